import type { VirtAddr } from "./address.js";
import type { OwnerId } from "./owner.js";

/**
 * The seed's heap calls: they "work exactly the same as malloc, free, etc.". Pointers are virtual addresses in the
 * kernel heap window; 0 is NULL.
 * - kmalloc returns 0 when memory runs out, and the heap is unchanged;
 * - kfree(0) does nothing; kfree of anything that is not a live block panics (MEMORY_MANAGEMENT_ERROR) naming the
 *   pointer and the reason, and changes nothing;
 * - krealloc(0, n) is kmalloc(n); krealloc(p, 0) frees p and returns 0; on failure it returns 0 and p stays valid;
 * - kcalloc zeroes, and returns 0 when n * size overflows.
 */
export interface HeapApi {
  kmalloc(size: number): VirtAddr;
  kfree(pointer: VirtAddr): void;
  krealloc(pointer: VirtAddr, size: number): VirtAddr;
  kcalloc(count: number, size: number): VirtAddr;
  /** kmalloc followed by zeroing. */
  kzalloc(size: number): VirtAddr;
}

/** One live heap block, for leak reports. */
export interface HeapBlockInfo {
  readonly address: VirtAddr;
  /** The size the caller asked for. */
  readonly size: number;
  readonly owner: OwnerId;
}

/** Heap usage, in bytes unless said otherwise. */
export interface HeapStats {
  /** Bytes of the heap window backed by frames. */
  readonly mappedBytes: number;
  /** Sum of the sizes callers asked for, over live blocks. */
  readonly liveBytes: number;
  readonly liveBlocks: number;
  readonly peakMappedBytes: number;
  readonly peakLiveBytes: number;
}
