import type { HeapBlockInfo, HeapStats, OwnerId } from "@ksim/core";

/**
 * {@link HeapStats} plus what `/proc/meminfo` and slabinfo-style views need. Bytes unless said otherwise.
 * `mappedBytes = controlBytes + descriptorBytes + slabBytes + largeBytes`.
 */
export interface HeapStatistics extends HeapStats {
  /** The control page (the free-list heads). */
  readonly controlBytes: number;
  /** Page descriptors mapped (16 bytes per heap page, one page per MiB of window in use). */
  readonly descriptorBytes: number;
  /** Pages of slabs, live or free objects alike. */
  readonly slabBytes: number;
  /** Pages of large blocks. */
  readonly largeBytes: number;
  /** Objects on the free lists. */
  readonly freeObjects: number;
  /** Debug mode: freed objects held in the quarantine (neither live nor on a list). */
  readonly quarantinedObjects: number;
  /** Bytes of empty slabs waiting to be given back (they go once they pass 1/16 of the mapped bytes). */
  readonly emptySlabBytes: number;
  /** Bytes of the window in use from its base, mapped or not (control page and descriptors included). */
  readonly windowBytes: number;
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
  /** The owner's readable name from the heap's `OwnerContext`. */
  readonly name: string;
  readonly blocks: number;
  /** Sum of requested sizes. */
  readonly bytes: number;
  /** The blocks, in address order. */
  readonly allocations: readonly HeapBlockInfo[];
}

/** One cache of `slabinfo()`: a size class, or `kmalloc-large` for blocks of whole pages. */
export interface SlabinfoRow {
  /** `kmalloc-96`, `kmalloc-1.25k`, ... `kmalloc-32k`, `kmalloc-large`. */
  readonly name: string;
  /** Largest request the cache serves (Infinity for `kmalloc-large`). */
  readonly objectSize: number;
  /** Bytes per object with its 16-byte header (0 for `kmalloc-large`, whose objects are whole pages). */
  readonly slotSize: number;
  /** Live objects (blocks). */
  readonly activeObjects: number;
  /** Objects the cache's slabs hold, live, free or quarantined. */
  readonly totalObjects: number;
  readonly objectsPerSlab: number;
  readonly pagesPerSlab: number;
  /** Slabs of the cache (for `kmalloc-large`: live large blocks). */
  readonly slabs: number;
  /** Pages mapped for the cache. */
  readonly pages: number;
}

/** Renders rows in the layout of `/proc/slabinfo` (version 2.1's columns that apply). */
export function formatSlabinfo(rows: readonly SlabinfoRow[]): string {
  const header =
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : slabdata <num_slabs> <pages>";
  const lines = rows.map(
    (row) =>
      `${row.name.padEnd(17)} ${pad(row.activeObjects, 13)} ${pad(row.totalObjects, 10)} ${pad(row.slotSize, 9)} ` +
      `${pad(row.objectsPerSlab, 12)} ${pad(row.pagesPerSlab, 14)} : slabdata ${pad(row.slabs, 11)} ${pad(row.pages, 7)}`,
  );
  return [header, ...lines].join("\n");
}

function pad(value: number, width: number): string {
  return String(value).padStart(width);
}
