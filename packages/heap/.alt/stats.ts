import type { HeapBlockInfo, HeapStats, OwnerId } from "@ksim/core";

/** {@link HeapStats} plus what `/proc/meminfo` and slabinfo-style views need. Bytes unless said otherwise. */
export interface HeapStatistics extends HeapStats {
  /** Bytes taken by live blocks: headers, payloads and the padding to 16 bytes (and red zones in debug mode). */
  readonly blockBytes: number;
  /** `blockBytes - liveBytes`: what the allocator spends on top of what callers asked for. */
  readonly overheadBytes: number;
  /**
   * Bytes in free blocks (headers included, pages given back too).
   * `blockBytes + freeBytes + controlBytes = mappedBytes + unmappedBytes`.
   */
  readonly freeBytes: number;
  readonly freeBlocks: number;
  /** Bytes of the allocator's control block (free-list heads, bitmaps) and end marker; 0 when nothing is mapped. */
  readonly controlBytes: number;
  /** Bytes of whole pages inside large free blocks given back to the frame allocator (mapped again when used). */
  readonly unmappedBytes: number;
  /** Frames backing the heap. */
  readonly frames: number;
  /** Successful kmalloc-family allocations (including those krealloc makes when it moves a block). */
  readonly allocations: number;
  /** Blocks freed (including by krealloc). */
  readonly frees: number;
  /** Allocations that returned 0 because memory ran out. */
  readonly failures: number;
}

/** Live blocks of one owner, for leak reports. */
export interface OwnerUsage {
  readonly owner: OwnerId;
  /** The owner's readable name from the heap's {@link OwnerContext}. */
  readonly name: string;
  readonly blocks: number;
  /** Sum of requested sizes. */
  readonly bytes: number;
  /** The blocks, in address order. */
  readonly allocations: readonly HeapBlockInfo[];
}

/**
 * One line of {@link formatSlabinfo}: the live and free blocks whose size falls in one kmalloc-style cache
 * (`kmalloc-16` ... `kmalloc-128k`, `kmalloc-large`), as the later Hexahedron kernel sorts them.
 */
export interface SlabinfoRow {
  /** `kmalloc-<size>`: requests up to this size (and above the previous row's). */
  readonly name: string;
  /** Largest request size of the row in bytes (Infinity for `kmalloc-large`). */
  readonly objectSize: number;
  readonly activeObjects: number;
  /** Sum of requested bytes of the active objects. */
  readonly activeBytes: number;
  /** Bytes the active objects take with headers and padding. */
  readonly blockBytes: number;
  /** Free blocks whose payload would serve a request of this row. */
  readonly freeObjects: number;
  readonly freeBytes: number;
}

const SLAB_SIZES = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072];

/** Index of the slabinfo row for a request of `size` bytes. */
export function slabRow(size: number): number {
  for (let i = 0; i < SLAB_SIZES.length; i++) if (size <= SLAB_SIZES[i]!) return i;
  return SLAB_SIZES.length;
}

/** Names and sizes of the slabinfo rows, in order. */
export function slabRowNames(): { name: string; objectSize: number }[] {
  const rows = SLAB_SIZES.map((size) => ({
    name: `kmalloc-${size >= 1024 ? `${size / 1024}k` : size}`,
    objectSize: size,
  }));
  rows.push({ name: "kmalloc-large", objectSize: Number.POSITIVE_INFINITY });
  return rows;
}

/** Renders rows in the layout of `/proc/slabinfo` (name, active, free, sizes). */
export function formatSlabinfo(rows: readonly SlabinfoRow[]): string {
  const header = "# name            <active_objs> <active_bytes> <block_bytes> <free_objs> <free_bytes>";
  const lines = rows.map(
    (row) =>
      `${row.name.padEnd(17)} ${String(row.activeObjects).padStart(13)} ${String(row.activeBytes).padStart(14)} ` +
      `${String(row.blockBytes).padStart(13)} ${String(row.freeObjects).padStart(11)} ${String(row.freeBytes).padStart(12)}`,
  );
  return [header, ...lines].join("\n");
}
