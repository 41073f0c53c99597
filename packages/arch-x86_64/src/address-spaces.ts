import type { FrameAllocator, PhysicalMemory } from "@ksim/core";
import { ENTRY_SPAN, type PageTables } from "./page-tables.js";
import { addressHi, addressLo, entryAddress, PTE_ADDR_HI, PTE_ADDR_LO, PTE_OWNED, PTE_P, PTE_PS } from "./pte.js";

/** PML4 slots 0-255 are the user half; 256-511, the kernel half, are shared by every address space. */
export const KERNEL_SLOT = 256;

/** Releases one reference to `frame` if the allocator manages it and has it allocated; anything else is left alone. */
export function releaseFrame(frames: FrameAllocator, frame: number): void {
  if (frames.isManaged(frame) && frames.refCount(frame) > 0) frames.release(frame);
}

/**
 * The address spaces (PML4s) of one kernel: creating one that shares the kernel half, cloning the user half, and
 * destroying one with everything it owns. Callers validate directories; these methods trust them.
 */
export class AddressSpaces {
  private readonly directories = new Set<number>();

  constructor(
    private readonly tables: PageTables,
    private readonly frames: FrameAllocator,
    private readonly physical: PhysicalMemory,
    private readonly kernel: number,
  ) {
    this.directories.add(kernel);
  }

  /** True when `dir` is a live PML4 of this kernel. */
  has(dir: number): boolean {
    return this.directories.has(dir);
  }

  /** Every live PML4, the kernel's first. */
  list(): number[] {
    return [...this.directories];
  }

  /** A new PML4 with an empty user half and the kernel's 256 kernel-half entries; 0 when frames run out. */
  create(): number {
    const pml4 = this.tables.allocTable(4, 0);
    if (pml4 === 0) return 0;
    for (let slot = KERNEL_SLOT; slot < 512; slot++) {
      const entry = this.kernel + slot * 8;
      this.tables.write(pml4 + slot * 8, this.tables.lo(entry), this.tables.hi(entry));
    }
    this.directories.add(pml4);
    return pml4;
  }

  /**
   * A copy of `source`: new tables for the user half, a new frame with the same contents for every owned page,
   * every other entry copied as it is (so foreign mappings are shared). 0 when frames run out, after giving back
   * every frame taken.
   */
  clone(source: number): number {
    const copy = this.create();
    if (copy === 0) return 0;
    const taken: number[] = [];
    if (this.copyLevel(source, copy, 4, taken)) return copy;
    for (let i = taken.length - 1; i >= 0; i--) {
      const frame = taken[i]!;
      if (this.tables.tables.has(frame)) this.tables.freeTable(frame);
      else this.frames.free(frame);
    }
    this.directories.delete(copy);
    this.tables.freeTable(copy);
    return 0;
  }

  /** Copies the user-relevant entries of table `from` (level `level`) into the empty table `to`. */
  private copyLevel(from: number, to: number, level: number, taken: number[]): boolean {
    const end = level === 4 ? KERNEL_SLOT : 512;
    const base = this.tables.tables.get(to)!.base;
    for (let i = 0; i < end; i++) {
      const lo = this.tables.lo(from + i * 8);
      const hi = this.tables.hi(from + i * 8);
      if (lo === 0 && hi === 0) continue;
      const leaf = level === 1 || (level < 4 && (lo & PTE_PS) !== 0);
      if (!leaf && lo & PTE_P) {
        const table = this.tables.allocTable(level - 1, base + i * ENTRY_SPAN[level]!);
        if (table === 0) return false;
        taken.push(table);
        this.point(to + i * 8, lo, hi, table);
        if (!this.copyLevel(entryAddress(lo, hi), table, level - 1, taken)) return false;
      } else if (level === 1 && lo & PTE_OWNED) {
        const frame = this.frames.allocFrame();
        if (frame === 0) return false;
        taken.push(frame);
        this.physical.copy(frame, entryAddress(lo, hi), 0x1000);
        this.point(to + i * 8, lo, hi, frame);
      } else {
        this.tables.write(to + i * 8, lo, hi);
      }
    }
    return true;
  }

  /** Writes at `entry` the entry (`lo`, `hi`) with its address replaced by `address`. */
  private point(entry: number, lo: number, hi: number, address: number): void {
    this.tables.write(entry, (lo & ~PTE_ADDR_LO) | addressLo(address), (hi & ~PTE_ADDR_HI) | addressHi(address));
  }

  /** Frees the user half's tables, releases every owned frame, then frees the PML4. */
  destroy(dir: number): void {
    this.freeLevel(dir, 4);
    this.directories.delete(dir);
    this.tables.freeTable(dir);
  }

  private freeLevel(table: number, level: number): void {
    const end = level === 4 ? KERNEL_SLOT : 512;
    for (let i = 0; i < end; i++) {
      const lo = this.tables.lo(table + i * 8);
      const hi = this.tables.hi(table + i * 8);
      const leaf = level === 1 || (level < 4 && (lo & PTE_PS) !== 0);
      if (leaf) {
        if (lo & PTE_OWNED) releaseFrame(this.frames, entryAddress(lo, hi));
      } else if (lo & PTE_P) {
        const child = entryAddress(lo, hi);
        if (this.tables.tables.has(child)) {
          this.freeLevel(child, level - 1);
          this.tables.freeTable(child);
        }
      }
    }
  }
}
