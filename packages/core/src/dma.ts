import type { PhysAddr, VirtAddr } from "./address.js";
import type { OwnerId } from "./owner.js";

/**
 * The seed's DMA and MMIO calls. DMA buffers are physically contiguous, zeroed, and mapped kernel-only and
 * non-cacheable; MMIO mappings are kernel-only and non-cacheable. Addresses are virtual unless named `phys`.
 * - mem_allocateDMA returns 0 when the window or the frame allocator is exhausted (nothing leaked);
 * - mem_mapMMIO returns the virtual address of `phys` itself (the sub-page offset is kept);
 * - mem_freeDMA and mem_unmapMMIO take exactly what the matching call returned; anything else is a typed error
 *   that changes nothing.
 */
export interface DmaApi {
  mem_allocateDMA(size: number): VirtAddr;
  mem_freeDMA(base: VirtAddr, size: number): void;
  mem_mapMMIO(phys: PhysAddr, size: number): VirtAddr;
  mem_unmapMMIO(virt: VirtAddr, size: number): void;
  /** Bytes of the DMA window in use. */
  mem_getDMAUsage(): number;
  /** Bytes of the MMIO window in use. */
  mem_getMMIOUsage(): number;
}

/** A live DMA buffer or MMIO mapping, for listings and per-driver accounting. */
export interface DmaMappingInfo {
  readonly kind: "dma" | "mmio";
  readonly virt: VirtAddr;
  readonly phys: PhysAddr;
  readonly size: number;
  readonly owner: OwnerId;
}
