import type { PhysAddr, VirtAddr } from "./address.js";
import type { MemoryTypeValue } from "./memory-type.js";
import type { DirectViewSlot } from "./physical-memory.js";

/** Protection and caching of a mapping, said positively (unlike the seed's "off switch" MEM_PAGE_* flags). */
export interface Protection {
  readonly writable: boolean;
  readonly user: boolean;
  readonly executable: boolean;
  /** Memory type the mapping asks for. Default WB. */
  readonly memoryType?: MemoryTypeValue;
  /** Survives address-space switches in the TLB (kernel mappings). Default false. */
  readonly global?: boolean;
}

/** The result of a mapping change. On failure nothing changed: no table was left behind, no frame leaked. */
export type MapResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /** `out-of-frames`: a page table could not be allocated; `already-mapped`: a page in the range was mapped. */
      readonly reason: "out-of-frames" | "already-mapped";
      readonly address: VirtAddr;
      readonly message: string;
    };

/**
 * Kernel-mode access to virtual memory through the MMU, in the current address space: what the heap and the
 * DMA/MMIO layer build on, and what a driver's `memset` runs through.
 *
 * Accesses translate once per page and then use typed-array operations on the page. An access that faults throws
 * `PageFault` (on the original kernel, a kernel-mode page fault halts the machine). Malformed arguments throw
 * `InvalidArgumentError`. Every mapping change keeps the TLB coherent.
 */
export interface VirtualMemory {
  /**
   * Maps `size` bytes (a page multiple) at `virt` to physical `phys`, both page-aligned, creating page tables as
   * needed. All or nothing.
   */
  map(virt: VirtAddr, phys: PhysAddr, size: number, protection: Protection): MapResult;
  /** Removes the mappings of `size` bytes at `virt` (page-aligned). Frames are not freed: they belong to the caller. */
  unmap(virt: VirtAddr, size: number): void;
  /** Changes the protection of mapped pages; throws `InvalidArgumentError` if a page in the range is not mapped. */
  protect(virt: VirtAddr, size: number, protection: Protection): void;
  /** The physical address `virt` maps to, or -1 when it is not mapped. Does not touch Accessed bits. */
  translate(virt: VirtAddr): number;
  read8(virt: VirtAddr): number;
  read16(virt: VirtAddr): number;
  read32(virt: VirtAddr): number;
  read64(virt: VirtAddr): bigint;
  write8(virt: VirtAddr, value: number): void;
  write16(virt: VirtAddr, value: number): void;
  write32(virt: VirtAddr, value: number): void;
  write64(virt: VirtAddr, value: bigint): void;
  fill(virt: VirtAddr, length: number, byte: number): void;
  /** memmove between two virtual ranges. */
  copy(destination: VirtAddr, source: VirtAddr, length: number): void;
  read(virt: VirtAddr, into: Uint8Array): void;
  write(virt: VirtAddr, from: Uint8Array): void;
  /**
   * Optional fast path for code that makes several accesses to one page in a row (a heap's block headers), like
   * QEMU's `probe_access`: translates `virt` for a read (`write` false) or a write exactly as an access would (TLB,
   * walk, Accessed and, for a write, Dirty bits, permission checks; a fault throws `PageFault` and a malformed
   * address `InvalidArgumentError` / `GeneralProtectionFault`) and returns a host view of the page, with
   * `slot.offset` set to the offset of `virt` itself in it: bytes `[slot.offset - (virt % 4096), ... + 4096)` of the
   * view are the page. Returns null when the page has no host view (device registers, holes): use the scalar
   * accesses then. A write view may be written and read; a read view must only be read.
   *
   * The view reflects the mapping at the time of the call, as a TLB entry does: use it for the accesses of one
   * operation, and ask again after anything that can change mappings (map, unmap, protect, an address-space
   * switch, a TLB flush) or the physical memory's layout.
   */
  pageView?(virt: VirtAddr, write: boolean, slot: DirectViewSlot): DataView | null;
}
