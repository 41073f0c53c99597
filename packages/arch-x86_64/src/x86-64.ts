import {
  type Arch,
  alignDown,
  alignUp,
  canonicalToLinear48,
  checkAligned,
  checkFlags,
  checkInteger,
  checkPhysAddr,
  checkSize,
  type FrameAllocator,
  formatCanonical48,
  InvalidArgumentError,
  KernelPanic,
  LINEAR_LIMIT_48,
  MEM_CREATE,
  MEM_PAGE_FLAGS_ALL,
  MEM_PAGE_FREE,
  MEM_PAGE_KERNEL,
  MEM_PAGE_NO_EXECUTE,
  MEM_PAGE_NOALLOC,
  MEM_PAGE_NOT_CACHEABLE,
  MEM_PAGE_NOT_PRESENT,
  MEM_PAGE_READONLY,
  MEM_PAGE_WRITE_COMBINE,
  MEM_PAGE_WRITETHROUGH,
  type PageDirectory,
  type PageRef,
  type PhysicalMemory,
  type VirtualLayout,
} from "@ksim/core";
import { AddressSpaces, releaseFrame } from "./address-spaces.js";
import { CR0_PE, CR0_PG, CR0_WP, CR4_PAE, CR4_PGE, EFER_LME, EFER_NXE } from "./control.js";
import { HHDM_MAX_SIZE, hexahedronLayout } from "./layout.js";
import { X86Mmu } from "./mmu.js";
import { ENTRY_SPAN, PageTables, TABLE_ENTRY_BITS, tableIndex, type UndoLog } from "./page-tables.js";
import { KSIM_PAT, packPat, patBits } from "./pat.js";
import {
  addressHi,
  addressLo,
  entryAddress,
  PTE_A,
  PTE_ADDR_HI,
  PTE_ADDR_LO,
  PTE_D,
  PTE_G,
  PTE_HI_COW,
  PTE_HI_XD,
  PTE_OWNED,
  PTE_P,
  PTE_PAT_4K,
  PTE_PCD,
  PTE_PS,
  PTE_PWT,
  PTE_RW,
  PTE_US,
} from "./pte.js";
import { X86VirtualMemory } from "./virtual-memory.js";

const PAGE = 0x1000;
const GiB = 0x4000_0000;
/** The user half: PML4 slots 0-255. The kernel half, 256-511, is shared by every address space. */
const KERNEL_SLOT = 256;

/** Options of {@link X86_64}. */
export interface X86_64Options {
  /** The machine's physical memory: where page tables live and pages are read. */
  readonly memory: PhysicalMemory;
  /** The frame allocator page tables and pages come from. */
  readonly frames: FrameAllocator;
  /** MAXPHYADDR (32..52). Default 46. */
  readonly physicalAddressBits?: number;
  /** Slots of the 4 KiB TLB (a power of two). Default 65536. */
  readonly tlbEntries?: number;
  /** Keep the MMU's PDE cache (default true); false makes every TLB miss a full four-level walk. */
  readonly pdeCache?: boolean;
  /**
   * Bytes of physical memory the HHDM maps, rounded up to 1 GiB. Default: everything up to the highest usable
   * frame the allocator reports. At most 448 GiB, the space between the HHDM base and the MMIO window.
   */
  readonly hhdmSize?: number;
}

/** The low/high bits of a leaf entry that mem_allocatePage / mem_mapAddress derive from MEM_PAGE_* flags. */
const FLAG_LO_MASK = PTE_P | PTE_RW | PTE_US | PTE_PWT | PTE_PCD | PTE_PAT_4K;

/** PAT index selected by the seed's cache flags (see pat.ts): NOT_CACHEABLE wins, then WRITE_COMBINE, then WT. */
export function patIndexForFlags(flags: number): number {
  if (flags & MEM_PAGE_NOT_CACHEABLE) return 3;
  if (flags & MEM_PAGE_WRITE_COMBINE) return 4;
  if (flags & MEM_PAGE_WRITETHROUGH) return 1;
  return 0;
}

/** The low half of a 4 KiB leaf for MEM_PAGE_* flags (frame, A, D, G and software bits excluded). */
export function flagsToLo(flags: number): number {
  return (
    (flags & MEM_PAGE_NOT_PRESENT ? 0 : PTE_P) |
    (flags & MEM_PAGE_READONLY ? 0 : PTE_RW) |
    (flags & MEM_PAGE_KERNEL ? 0 : PTE_US) |
    patBits(patIndexForFlags(flags), false)
  );
}

/**
 * x86-64 with 4-level paging: the seed's page macros and mem_* calls over real page tables in simulated RAM, the
 * MMU that walks them, and the original kernel's virtual layout.
 *
 * Boot (the constructor) does what mem_init does, minus its defects: allocates the kernel PML4 and a PDPT for
 * every kernel-half slot (256-511, so every address space shares them), maps the HHDM with 1 GiB global, NX,
 * supervisor pages, programs the PAT (see pat.ts), sets EFER.NXE, CR4.PAE|PGE, loads CR3 and sets CR0.PG|WP.
 *
 * Frame ownership: a leaf whose frame mem_allocatePage or mem_clone allocated carries the software bit 9
 * ("owned") and holds one reference on the frame; mem_destroyVAS releases those, and tables. Frames given to
 * mem_mapAddress or VirtualMemory.map belong to the caller. mem_freePage releases the frame of any page whose
 * frame the allocator manages and has allocated (so freeing a page that maps device memory leaves the allocator
 * alone).
 *
 * @throws KernelPanic(OUT_OF_MEMORY) from the constructor when boot cannot get its tables (nothing is kept).
 */
export class X86_64 implements Arch {
  readonly name = "x86_64";
  readonly pageSize = PAGE;
  readonly linearAddressBits = 48;
  declare readonly physicalAddressBits: number;
  declare readonly layout: VirtualLayout;
  declare readonly mmu: X86Mmu;
  /** Kernel-mode access through the MMU in the current address space. */
  declare readonly memory: X86VirtualMemory;
  /** User-mode access (CPL 3) through the MMU in the current address space. */
  declare readonly userMemory: X86VirtualMemory;
  declare readonly tables: PageTables;
  declare readonly frames: FrameAllocator;
  declare readonly physical: PhysicalMemory;

  declare private readonly kernelDirectory: number;
  declare private readonly spaces: AddressSpaces;
  declare private readonly physLimit: number;
  private readonly scratch = new Float64Array(2);

  /** Boots: builds the kernel directory and the HHDM, programs the PAT and control registers (see the class doc). */
  constructor(options: X86_64Options) {
    this.physical = options.memory;
    this.frames = options.frames;
    this.mmu = new X86Mmu({
      memory: options.memory,
      physicalAddressBits: options.physicalAddressBits,
      tlbEntries: options.tlbEntries,
      pdeCache: options.pdeCache,
    });
    this.physicalAddressBits = this.mmu.physicalAddressBits;
    this.physLimit = 2 ** this.physicalAddressBits;
    this.tables = new PageTables(options.memory, options.frames);
    const hhdmSize = this.hhdmSizeFor(options);
    this.layout = hexahedronLayout(hhdmSize);
    this.kernelDirectory = this.buildKernelDirectory(hhdmSize);
    this.spaces = new AddressSpaces(this.tables, options.frames, options.memory, this.kernelDirectory);
    const mmu = this.mmu;
    mmu.writePat(packPat(KSIM_PAT));
    mmu.writeEfer(EFER_LME | EFER_NXE);
    mmu.writeCr4(CR4_PAE | CR4_PGE);
    mmu.writeCr3(this.kernelDirectory);
    mmu.writeCr0((CR0_PE | CR0_PG | CR0_WP) >>> 0);
    this.memory = new X86VirtualMemory(this, false);
    this.userMemory = new X86VirtualMemory(this, true);
  }

  private hhdmSizeFor(options: X86_64Options): number {
    let size = options.hhdmSize;
    if (size === undefined) {
      const stats = options.frames.stats();
      size = stats.totalFrames * stats.frameSize;
    } else {
      checkSize("hhdmSize", size);
    }
    return Math.min(alignUp(Math.max(size, GiB), GiB), HHDM_MAX_SIZE);
  }

  /** The kernel PML4, a PDPT for each kernel slot, and the HHDM's 1 GiB pages. Rolls back and panics on OOM. */
  private buildKernelDirectory(hhdmSize: number): number {
    const undo: UndoLog = [];
    const pml4 = this.tables.allocTable(4, 0);
    if (pml4 === 0) throw new KernelPanic("OUT_OF_MEMORY", "mem", "no frame for the kernel PML4");
    for (let slot = KERNEL_SLOT; slot < 512; slot++) {
      const base = slot * ENTRY_SPAN[4];
      const pdpt = this.tables.allocTable(3, base);
      if (pdpt === 0) {
        this.tables.rollback(undo);
        this.tables.freeTable(pml4);
        throw new KernelPanic("OUT_OF_MEMORY", "mem", "no frame for the kernel-half PDPTs");
      }
      const entry = pml4 + slot * 8;
      this.tables.write(entry, addressLo(pdpt) | TABLE_ENTRY_BITS, addressHi(pdpt));
      this.tables.record(undo, entry, pdpt);
    }
    const hhdm = this.layout.hhdm.base;
    const pdpt = entryAddress(this.tables.lo(pml4 + tableIndex(hhdm, 4) * 8), 0);
    const first = tableIndex(hhdm, 3);
    for (let i = 0; i < hhdmSize / GiB; i++) {
      const phys = i * GiB;
      // Present, writable, supervisor, 1 GiB, global, WB, no-execute.
      this.tables.write(
        pdpt + (first + i) * 8,
        addressLo(phys) | PTE_P | PTE_RW | PTE_PS | PTE_G,
        addressHi(phys) | PTE_HI_XD,
      );
    }
    return pml4;
  }

  // ---------------------------------------------------------------- addresses

  /** The canonical 64-bit form of a linear address, as the kernel prints it (`0xFFFFFF8000000000`). */
  formatAddress(virt: number): string {
    return formatCanonical48(this.checkLinear("virt", virt));
  }

  /**
   * The linear form of a canonical 64-bit address (bigint) or of a linear number.
   * @throws InvalidArgumentError for a non-canonical or out-of-range address.
   */
  parseAddress(address: bigint | number): number {
    if (typeof address !== "bigint" && typeof address !== "number") {
      throw new InvalidArgumentError("address", address, "not a number or a bigint");
    }
    return canonicalToLinear48(address);
  }

  /** MEM_ALIGN_PAGE: rounds up to a page; an aligned address stays. */
  alignPage(address: number): number {
    return alignUp(checkInteger("address", address, 0, 2 ** 52), PAGE);
  }

  /** MEM_ALIGN_PAGE_DESTRUCTIVE: rounds down to a page. */
  alignPageDown(address: number): number {
    return alignDown(checkInteger("address", address, 0, 2 ** 52), PAGE);
  }

  private checkLinear(argument: string, virt: number): number {
    checkInteger(argument, virt, 0);
    if (virt >= LINEAR_LIMIT_48) {
      throw new InvalidArgumentError(argument, virt, "not a 48-bit linear address (non-canonical as 64-bit)");
    }
    return virt;
  }

  private checkFrameAddress(argument: string, phys: number): number {
    checkPhysAddr(argument, phys);
    if (phys >= this.physLimit) {
      throw new InvalidArgumentError(argument, phys, `beyond MAXPHYADDR (${this.physicalAddressBits} bits)`);
    }
    return phys;
  }

  // ---------------------------------------------------------------- page references

  /** Checks a `page_t *`: 0 is NULL (returns false); otherwise an 8-byte-aligned entry of one of our page tables. */
  private checkPage(page: PageRef): boolean {
    checkInteger("page", page, 0, 2 ** 52 - 1);
    if (page === 0) return false;
    if (page % 8 !== 0) throw new InvalidArgumentError("page", page, "not 8-byte aligned: not a page-table entry");
    const info = this.tables.tables.get(page - (page % PAGE));
    if (info === undefined) throw new InvalidArgumentError("page", page, "not an entry of this kernel's page tables");
    if (info.level !== 1) {
      throw new InvalidArgumentError("page", page, `an entry of a level-${info.level} table, not of a page table`);
    }
    return true;
  }

  private requirePage(page: PageRef): void {
    if (!this.checkPage(page)) throw new InvalidArgumentError("page", page, "NULL page reference");
  }

  private bit(page: PageRef, mask: number): boolean {
    return this.checkPage(page) && (this.tables.lo(page) & mask) !== 0;
  }

  /** PAGE_IS_PRESENT: false for NULL. @throws InvalidArgumentError for a foreign or misaligned reference. */
  pageIsPresent(page: PageRef): boolean {
    return this.bit(page, PTE_P);
  }
  /** PAGE_IS_WRITABLE: false for NULL. */
  pageIsWritable(page: PageRef): boolean {
    return this.bit(page, PTE_RW);
  }
  /** PAGE_IS_USERMODE: false for NULL. */
  pageIsUsermode(page: PageRef): boolean {
    return this.bit(page, PTE_US);
  }
  /** PAGE_IS_DIRTY (the D bit the MMU sets on writes): false for NULL. */
  pageIsDirty(page: PageRef): boolean {
    return this.bit(page, PTE_D);
  }
  /** PAGE_IS_COW (software bit 52): false for NULL. */
  pageIsCow(page: PageRef): boolean {
    return this.checkPage(page) && (this.tables.hi(page) & PTE_HI_COW) !== 0;
  }

  /** Rewrites an entry and keeps the TLB coherent. */
  private setEntry(page: PageRef, lo: number, hi: number): void {
    this.tables.write(page, lo, hi);
    this.mmu.invalidate(this.tables.linearOf(page));
  }

  /** PAGE_PRESENT: reads the present bit, or sets it to `value` (TLB kept coherent). @throws for NULL. */
  pagePresent(page: PageRef, value?: boolean): boolean {
    this.requirePage(page);
    const lo = this.tables.lo(page);
    if (value !== undefined) this.setEntry(page, value ? lo | PTE_P : lo & ~PTE_P, this.tables.hi(page));
    return value ?? (lo & PTE_P) !== 0;
  }

  /** PAGE_COW: reads the software copy-on-write bit (bit 52), or sets it. @throws for NULL. */
  pageCow(page: PageRef, value?: boolean): boolean {
    this.requirePage(page);
    const hi = this.tables.hi(page);
    if (value !== undefined) this.setEntry(page, this.tables.lo(page), value ? hi | PTE_HI_COW : hi & ~PTE_HI_COW);
    return value ?? (hi & PTE_HI_COW) !== 0;
  }

  /** PAGE_FRAME_RAW: the raw frame-number field (bits 51..12), or sets it. @throws for NULL or a number too large. */
  pageFrameRaw(page: PageRef, value?: number): number {
    this.requirePage(page);
    if (value !== undefined) {
      checkInteger("value", value, 0, this.physLimit / PAGE - 1);
      this.setFrame(page, value * PAGE);
      return value;
    }
    return entryAddress(this.tables.lo(page), this.tables.hi(page)) / PAGE;
  }

  /** MEM_GET_FRAME: the physical address of the page's frame. @throws for NULL. */
  getFrame(page: PageRef): number {
    this.requirePage(page);
    return entryAddress(this.tables.lo(page), this.tables.hi(page));
  }

  /**
   * MEM_SET_FRAME: points the page at `frame` (page-aligned, below MAXPHYADDR); other bits stay. The page stops
   * owning its old frame: whoever changes a frame by hand takes that frame over.
   */
  setFrame(page: PageRef, frame: number): void {
    this.requirePage(page);
    this.checkFrameAddress("frame", frame);
    checkAligned("frame", frame, PAGE);
    const lo = (this.tables.lo(page) & ~(PTE_ADDR_LO | PTE_OWNED)) | addressLo(frame);
    const hi = (this.tables.hi(page) & ~PTE_ADDR_HI) | addressHi(frame);
    this.setEntry(page, lo, hi);
  }

  // ---------------------------------------------------------------- mem_* calls

  private directory(dir: PageDirectory): number {
    checkInteger("dir", dir, 0, 2 ** 52 - 1);
    if (dir === 0) return this.mmu.pml4Base;
    if (!this.spaces.has(dir)) throw new InvalidArgumentError("dir", dir, "not a page directory of this kernel");
    return dir;
  }

  /**
   * mem_getPage: the PTE for the page holding `virt` in `dir` (0 = current). Only MEM_CREATE creates missing tables,
   * and splits a 2 MiB / 1 GiB page that maps the address (the HHDM's, say) into 4 KiB pages mapping the same
   * memory. Returns 0 without MEM_CREATE when a table is missing or a large page maps the address (it has no PTE),
   * and when frames run out (every table the call made is given back, every split undone).
   */
  getPage(dir: PageDirectory, virt: number, flags: number): PageRef {
    const pml4 = this.directory(dir);
    this.checkLinear("virt", virt);
    checkFlags("flags", flags, MEM_CREATE);
    if (!(flags & MEM_CREATE)) return this.tables.pteFor(pml4, virt, null);
    const undo: UndoLog = [];
    const pte = this.tables.pteFor(pml4, virt, undo);
    if (pte < 0) {
      this.tables.rollback(undo);
      return 0;
    }
    return pte;
  }

  /**
   * mem_allocatePage: sets the page's protection from MEM_PAGE_* flags (MEM_DEFAULT: present, writable,
   * executable, user, WB) and, without MEM_PAGE_NOALLOC, gives it a fresh zeroed frame that it owns (a frame it
   * owned before is released). MEM_PAGE_FREE frees the page instead. NULL does nothing.
   * @throws InvalidArgumentError for unknown flags or a foreign page; KernelPanic(OUT_OF_MEMORY) when no frame is
   *   left (the page is unchanged).
   */
  allocatePage(page: PageRef, flags: number): void {
    checkFlags("flags", flags, MEM_PAGE_FLAGS_ALL);
    if (!this.checkPage(page)) return;
    if (flags & MEM_PAGE_FREE) {
      this.freePage(page);
      return;
    }
    const oldLo = this.tables.lo(page);
    const oldHi = this.tables.hi(page);
    let lo = (oldLo & ~FLAG_LO_MASK) | flagsToLo(flags);
    let hi = flags & MEM_PAGE_NO_EXECUTE ? oldHi | PTE_HI_XD : oldHi & ~PTE_HI_XD;
    if (!(flags & MEM_PAGE_NOALLOC)) {
      const frame = this.frames.allocFrame();
      if (frame === 0) {
        throw new KernelPanic(
          "OUT_OF_MEMORY",
          "mem",
          `no free frame for the page at ${this.formatAddress(this.tables.linearOf(page))}`,
        );
      }
      this.physical.fill(frame, PAGE, 0);
      lo = (lo & ~(PTE_ADDR_LO | PTE_A | PTE_D)) | addressLo(frame) | PTE_OWNED;
      hi = (hi & ~PTE_ADDR_HI) | addressHi(frame);
    }
    this.setEntry(page, lo, hi);
    if (!(flags & MEM_PAGE_NOALLOC) && oldLo & PTE_OWNED) this.releaseFrame(entryAddress(oldLo, oldHi));
  }

  private releaseFrame(frame: number): void {
    releaseFrame(this.frames, frame);
  }

  /**
   * mem_freePage: unmaps the page (clears present, writable, user and the frame) and releases its frame when the
   * allocator manages it and has it allocated; device memory and frames already free are left alone. NULL does
   * nothing. The TLB is kept coherent.
   */
  freePage(page: PageRef): void {
    if (!this.checkPage(page)) return;
    const lo = this.tables.lo(page);
    const hi = this.tables.hi(page);
    const frame = entryAddress(lo, hi);
    this.setEntry(page, lo & ~(PTE_P | PTE_RW | PTE_US | PTE_ADDR_LO | PTE_OWNED), hi & ~PTE_ADDR_HI);
    if (frame !== 0) this.releaseFrame(frame);
  }

  /**
   * mem_mapAddress: maps the page at `virt` to `phys` (both page-aligned) in `dir` (0 = current) with MEM_PAGE_*
   * flags, creating tables as needed (and splitting a large page that maps `virt`, the rest of it unchanged). The
   * frame stays the caller's. A frame the page owned before is released.
   * @throws InvalidArgumentError for bad arguments (MEM_PAGE_FREE is refused); KernelPanic(OUT_OF_MEMORY) when a
   *   table cannot be allocated, after giving back every table the call made.
   */
  mapAddress(dir: PageDirectory, phys: number, virt: number, flags: number): void {
    const pml4 = this.directory(dir);
    this.checkFrameAddress("phys", phys);
    checkAligned("phys", phys, PAGE);
    this.checkLinear("virt", virt);
    checkAligned("virt", virt, PAGE);
    checkFlags("flags", flags, MEM_PAGE_FLAGS_ALL & ~MEM_PAGE_FREE);
    const undo: UndoLog = [];
    const page = this.tables.pteFor(pml4, virt, undo);
    if (page < 0) {
      this.tables.rollback(undo);
      throw new KernelPanic(
        "OUT_OF_MEMORY",
        "mem",
        `no frame for a page table while mapping ${this.formatAddress(virt)}`,
      );
    }
    const oldLo = this.tables.lo(page);
    const oldHi = this.tables.hi(page);
    const lo = (oldLo & PTE_G) | flagsToLo(flags) | addressLo(phys);
    const hi = (oldHi & PTE_HI_COW) | addressHi(phys) | (flags & MEM_PAGE_NO_EXECUTE ? PTE_HI_XD : 0);
    this.setEntry(page, lo, hi);
    if (oldLo & PTE_OWNED) this.releaseFrame(entryAddress(oldLo, oldHi));
  }

  /**
   * mem_getPhysicalAddress: the physical address `virt` maps to in `dir` (0 = current), through pages of any size;
   * 0 when it is not mapped (not present at some level).
   */
  getPhysicalAddress(dir: PageDirectory, virt: number): number {
    const pml4 = this.directory(dir);
    this.checkLinear("virt", virt);
    const phys = this.resolve(pml4, virt);
    return Math.max(phys, 0);
  }

  /** The physical address of `virt` under `pml4`, or -1 when not present. No side effects. */
  resolve(pml4: number, virt: number): number {
    if (!this.tables.leafFor(pml4, virt, this.scratch)) return -1;
    const entry = this.scratch[0]!;
    const level = this.scratch[1]!;
    const span = ENTRY_SPAN[level]!;
    let lo = this.tables.lo(entry);
    if (level > 1) lo &= level === 2 ? 0xffe0_0000 : 0xc000_0000;
    return entryAddress(lo, this.tables.hi(entry)) + (virt % span);
  }

  /**
   * mem_remapPhys: the HHDM address of `phys` (`hhdm.base + phys`). The HHDM is permanent, so this maps nothing.
   * @throws InvalidArgumentError when `[phys, phys + size)` is not inside the HHDM.
   */
  remapPhys(phys: number, size: number): number {
    checkPhysAddr("phys", phys);
    checkSize("size", size, true);
    const hhdm = this.layout.hhdm;
    if (phys + size > hhdm.size) {
      throw new InvalidArgumentError(
        "phys",
        phys,
        `range of ${size} bytes ends beyond the HHDM, which maps the first 0x${hhdm.size.toString(16)} bytes`,
      );
    }
    return hhdm.base + phys;
  }

  /** mem_unmapPhys: ends a mem_remapPhys use (nothing to undo). @throws when `virt` is not in the HHDM. */
  unmapPhys(virt: number, size: number): void {
    this.checkLinear("virt", virt);
    checkSize("size", size, true);
    const hhdm = this.layout.hhdm;
    if (virt < hhdm.base || virt + size > hhdm.base + hhdm.size) {
      throw new InvalidArgumentError("virt", virt, "not an HHDM address returned by mem_remapPhys");
    }
  }

  /** mem_invalidatePage: invlpg. */
  invalidatePage(virt: number): void {
    this.checkLinear("virt", virt);
    this.mmu.invalidate(virt);
  }

  // ---------------------------------------------------------------- address spaces

  /** mem_createVAS: a new address space with an empty user half and the shared kernel half; 0 when out of frames. */
  createVAS(): PageDirectory {
    return this.spaces.create();
  }

  /**
   * mem_clone: copies `dir` (0 = current). The kernel half is shared; the user half's tables are copied, and every
   * page the address space owns gets a new frame with the same contents and flags (copy-on-write bit included).
   * Mappings it does not own (device memory, frames mapped with mem_mapAddress) are shared. Returns 0 when frames
   * run out, after giving back every frame the call took.
   */
  cloneVAS(dir: PageDirectory): PageDirectory {
    return this.spaces.clone(this.directory(dir));
  }

  /** mem_switchDirectory: loads `dir` (0 = the kernel directory) into CR3, unless it is current already. */
  switchDirectory(dir: PageDirectory): void {
    const target = dir === 0 ? this.kernelDirectory : this.directory(dir);
    if (target !== this.mmu.pml4Base) this.mmu.writeCr3(target);
  }

  /** mem_getCurrentDirectory: the PML4 in CR3. */
  getCurrentDirectory(): PageDirectory {
    return this.mmu.pml4Base;
  }

  /** mem_getKernelDirectory: the PML4 built at boot. */
  getKernelDirectory(): PageDirectory {
    return this.kernelDirectory;
  }

  /**
   * mem_destroyVAS: frees the user half's tables, releases every frame the address space owns, then frees the PML4.
   * @throws InvalidArgumentError for the kernel directory, the current one, or one that is not a directory.
   */
  destroyVAS(dir: PageDirectory): void {
    checkInteger("dir", dir, 1, 2 ** 52 - 1);
    if (!this.spaces.has(dir)) throw new InvalidArgumentError("dir", dir, "not a page directory of this kernel");
    if (dir === this.kernelDirectory) {
      throw new InvalidArgumentError("dir", dir, "the kernel directory cannot be destroyed");
    }
    if (dir === this.mmu.pml4Base) {
      throw new InvalidArgumentError("dir", dir, "the current directory cannot be destroyed");
    }
    this.spaces.destroy(dir);
  }

  /** Every directory (PML4) this kernel has made and not destroyed, the kernel's first. */
  listDirectories(): number[] {
    return this.spaces.list();
  }
}
