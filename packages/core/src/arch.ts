import type { PhysAddr, VirtAddr } from "./address.js";
import type { Mmu } from "./mmu.js";
import type { VirtualMemory } from "./virtual-memory.js";

/**
 * `page_t *`: a reference to a page-table entry. On x86-64 it is the physical address of the entry, so looking a
 * page up allocates nothing. 0 is NULL.
 */
export type PageRef = number;

/** A page directory (an address space): the physical address of its top-level table. 0 means "the current one". */
export type PageDirectory = number;

/** A window of the kernel's virtual layout. */
export interface VirtualWindow {
  readonly name: string;
  readonly base: VirtAddr;
  readonly size: number;
}

/** The kernel's virtual memory layout. Subsystems ask for "the MMIO window" rather than hard-coding addresses. */
export interface VirtualLayout {
  readonly user: VirtualWindow;
  readonly kernel: VirtualWindow;
  readonly dma: VirtualWindow;
  readonly heap: VirtualWindow;
  /** The higher-half direct map of all physical memory (mem_remapPhys). */
  readonly hhdm: VirtualWindow;
  readonly mmio: VirtualWindow;
  readonly driver: VirtualWindow;
}

/**
 * The per-architecture contract: the seed's page macros and mem_* calls (as camelCase methods; the C names are on
 * {@link MemoryApi}), address spaces, the virtual layout and the MMU.
 *
 * Promises shared by every implementation:
 * - malformed input (NaN, negative, fractional, non-canonical, beyond the physical limit, unknown flags, a page
 *   reference that is not an entry of this architecture's tables) throws `InvalidArgumentError` and changes nothing;
 * - running out of frames while creating tables or cloning returns the C-style failure (0) and gives back every
 *   frame the call took; where the C signature is `void`, it throws `KernelPanic(OUT_OF_MEMORY)` after the same
 *   roll-back;
 * - every call that changes a mapping keeps the TLB coherent.
 */
export interface Arch {
  readonly name: string;
  readonly pageSize: number;
  /** Bits of a linear address (48 on x86-64 with 4-level paging, 32 on i386). */
  readonly linearAddressBits: number;
  /** Highest physical address bit plus one (MAXPHYADDR). */
  readonly physicalAddressBits: number;
  readonly layout: VirtualLayout;
  readonly mmu: Mmu;
  /** Kernel-mode access through the MMU in the current address space. */
  readonly memory: VirtualMemory;

  /** Formats a linear address in the architecture's printed form (canonical 64-bit on x86-64). */
  formatAddress(virt: VirtAddr): string;
  /** Parses a printed or canonical address (bigint or number) into the linear form; throws if it is not valid. */
  parseAddress(address: bigint | number): VirtAddr;

  /** MEM_ALIGN_PAGE: round up to a page boundary; an aligned address stays as it is. */
  alignPage(address: number): number;
  /** MEM_ALIGN_PAGE_DESTRUCTIVE: round down to a page boundary. */
  alignPageDown(address: number): number;

  /** PAGE_IS_PRESENT and friends: false for a NULL reference. */
  pageIsPresent(page: PageRef): boolean;
  pageIsWritable(page: PageRef): boolean;
  pageIsUsermode(page: PageRef): boolean;
  pageIsCow(page: PageRef): boolean;
  pageIsDirty(page: PageRef): boolean;
  /** PAGE_PRESENT(pg): reads the present bit, or sets it when `value` is given. */
  pagePresent(page: PageRef, value?: boolean): boolean;
  /** PAGE_COW(pg): reads the software copy-on-write bit, or sets it when `value` is given. */
  pageCow(page: PageRef, value?: boolean): boolean;
  /** PAGE_FRAME_RAW(pg): the raw frame number field, or sets it when `value` is given. */
  pageFrameRaw(page: PageRef, value?: number): number;
  /** MEM_GET_FRAME: the physical address of the page's frame. */
  getFrame(page: PageRef): PhysAddr;
  /** MEM_SET_FRAME: points the page at a frame (page-aligned, below the physical limit). */
  setFrame(page: PageRef, frame: PhysAddr): void;

  /** mem_getPage: the entry for `virt` in `dir` (0 = current); creates tables only with MEM_CREATE; 0 if none. */
  getPage(dir: PageDirectory, virt: VirtAddr, flags: number): PageRef;
  /** mem_allocatePage: sets protection from MEM_PAGE_* flags and, unless MEM_PAGE_NOALLOC, a fresh frame. */
  allocatePage(page: PageRef, flags: number): void;
  /** mem_freePage: unmaps the page and frees its frame (if the frame allocator owns it). */
  freePage(page: PageRef): void;
  /** mem_mapAddress: maps `virt` to `phys` with MEM_PAGE_* flags. */
  mapAddress(dir: PageDirectory, phys: PhysAddr, virt: VirtAddr, flags: number): void;
  /** mem_getPhysicalAddress: the physical address `virt` maps to, or 0 when it is not mapped. */
  getPhysicalAddress(dir: PageDirectory, virt: VirtAddr): PhysAddr;
  /** mem_remapPhys: a kernel virtual address for physical memory (through the HHDM). */
  remapPhys(phys: PhysAddr, size: number): VirtAddr;
  /** mem_unmapPhys: ends a mem_remapPhys use. */
  unmapPhys(virt: VirtAddr, size: number): void;
  /** mem_invalidatePage: drops the TLB entry of one page. */
  invalidatePage(virt: VirtAddr): void;

  /** mem_createVAS: a new address space sharing the kernel half; 0 when frames run out. */
  createVAS(): PageDirectory;
  /** mem_clone: a copy of `dir` (0 = current): kernel half shared, user half copied; 0 when frames run out. */
  cloneVAS(dir: PageDirectory): PageDirectory;
  /** mem_switchDirectory: loads `dir` (0 = the kernel directory). */
  switchDirectory(dir: PageDirectory): void;
  getCurrentDirectory(): PageDirectory;
  getKernelDirectory(): PageDirectory;
  /** mem_destroyVAS: frees every table and user frame of `dir`. Not the current or the kernel directory. */
  destroyVAS(dir: PageDirectory): void;
}
