import type { FrameAllocator, PhysicalMemory } from "@ksim/core";
import {
  addressHi,
  addressLo,
  entryAddress,
  PTE_ADDR_HI,
  PTE_P,
  PTE_PAT_4K,
  PTE_PAT_LARGE,
  PTE_PS,
  PTE_RW,
  PTE_US,
} from "./pte.js";

/** What the kernel knows about one of its page-table frames. */
export interface TableInfo {
  /** 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT. */
  readonly level: number;
  /** The lowest linear address the table translates. */
  readonly base: number;
}

/** Bytes of linear address space one entry of a level-`level` table covers. */
export const ENTRY_SPAN = [0, 0x1000, 0x20_0000, 0x4000_0000, 0x80_0000_0000] as const;

/** Index (0-511) of `linear` in a table of `level` (SDM 4.5: bits 47:39, 38:30, 29:21, 20:12). */
export function tableIndex(linear: number, level: number): number {
  return Math.floor(linear / ENTRY_SPAN[level]!) % 512;
}

/** Bits of a non-leaf entry: present, writable, user. Leaves alone decide the permissions of a mapping. */
export const TABLE_ENTRY_BITS = PTE_P | PTE_RW | PTE_US;

/**
 * Tables created by one call, to undo them if a later allocation of the same call fails: quadruples of the parent
 * entry, the new table's frame, and the parent entry's previous halves (0, 0 for a table made where nothing was; a
 * large page's entry for a table made by splitting it). Use {@link PageTables.record}.
 */
export type UndoLog = number[];

/**
 * The page tables as the kernel sees them: entries read and written as two 32-bit halves of physical memory (the
 * kernel reaches them through the HHDM, a fixed offset, so this is the same memory), and a registry of every table
 * frame so that a `page_t *` can be checked and mapped back to the linear address it translates.
 */
export class PageTables {
  /** Every table frame the kernel allocated, by physical address. */
  readonly tables = new Map<number, TableInfo>();

  constructor(
    readonly memory: PhysicalMemory,
    readonly frames: FrameAllocator,
  ) {}

  /** Bits 31..0 of the entry at physical address `entry`. */
  lo(entry: number): number {
    return this.memory.read32(entry);
  }
  /** Bits 63..32 of the entry at physical address `entry`. */
  hi(entry: number): number {
    return this.memory.read32(entry + 4);
  }
  /** Writes both halves of an entry (no TLB maintenance: callers invalidate). */
  write(entry: number, lo: number, hi: number): void {
    this.memory.write32(entry, lo >>> 0);
    this.memory.write32(entry + 4, hi >>> 0);
  }

  /** A zeroed table frame registered at `level` covering from `base`; 0 when frames ran out. */
  allocTable(level: number, base: number): number {
    const frame = this.frames.allocFrame();
    if (frame === 0) return 0;
    this.memory.fill(frame, 0x1000, 0);
    this.tables.set(frame, { level, base });
    return frame;
  }

  /** Gives a table frame back. */
  freeTable(frame: number): void {
    this.tables.delete(frame);
    this.frames.free(frame);
  }

  /** Notes in `undo` that `frame` was made a table under `entry`, whose halves were `oldLo`/`oldHi` before. */
  record(undo: UndoLog, entry: number, frame: number, oldLo = 0, oldHi = 0): void {
    undo.push(entry, frame, oldLo, oldHi);
  }

  /** Undoes the tables recorded in `undo`, newest first: each parent entry gets its old value back. */
  rollback(undo: UndoLog): void {
    for (let i = undo.length - 4; i >= 0; i -= 4) {
      this.write(undo[i]!, undo[i + 2]!, undo[i + 3]!);
      this.freeTable(undo[i + 1]!);
    }
    undo.length = 0;
  }

  /**
   * Replaces the large leaf at `entry` (a 1 GiB PDPTE at level 3 or a 2 MiB PDE at level 2, halves `lo`/`hi`,
   * covering `linear`) by a table of 512 entries one size down that map the same memory with the same attributes
   * (permissions, caching with the PAT bit moved to bit 7 in 4 KiB entries, A, D, G, software bits, XD), and
   * records it in `undo`. Translations do not change, so cached ones stay right: the caller invalidates the pages it
   * changes next. Returns the new table, or 0 when no frame was left (nothing changed).
   */
  splitLarge(entry: number, level: number, lo: number, hi: number, linear: number, undo: UndoLog): number {
    const span = ENTRY_SPAN[level]!;
    const frame = this.allocTable(level - 1, linear - (linear % span));
    if (frame === 0) return 0;
    const base = entryAddress(lo & ~PTE_PAT_LARGE, hi);
    const child = ENTRY_SPAN[level - 1]!;
    const pat = lo & PTE_PAT_LARGE;
    // A 2 MiB child keeps PS and the PAT bit at 12; a 4 KiB child has PAT at bit 7, where PS was.
    const flagsLo = level - 1 >= 2 ? (lo & 0xfff) | pat : (lo & 0xfff & ~PTE_PS) | (pat ? PTE_PAT_4K : 0);
    const flagsHi = hi & ~PTE_ADDR_HI;
    for (let k = 0; k < 512; k++) {
      const phys = base + k * child;
      this.write(frame + k * 8, flagsLo | addressLo(phys), flagsHi | addressHi(phys));
    }
    this.write(entry, addressLo(frame) | TABLE_ENTRY_BITS, addressHi(frame));
    this.record(undo, entry, frame, lo, hi);
    return frame;
  }

  /**
   * The address of the PTE for `linear` under the PML4 `pml4`. When `undo` is given, missing tables are created and
   * a large page on the way is split down to 4 KiB pages (both recorded there). Without `undo` returns 0 when a
   * table is missing or a large page maps the address (it has no PTE). Returns -1 when a table could not be
   * allocated.
   */
  pteFor(pml4: number, linear: number, undo: UndoLog | null): number {
    let table = pml4;
    for (let level = 4; level >= 2; level--) {
      const entry = table + tableIndex(linear, level) * 8;
      const lo = this.lo(entry);
      if (!(lo & PTE_P)) {
        if (undo === null) return 0;
        const span = ENTRY_SPAN[level]!;
        const frame = this.allocTable(level - 1, linear - (linear % span));
        if (frame === 0) return -1;
        this.write(entry, addressLo(frame) | TABLE_ENTRY_BITS, addressHi(frame));
        this.record(undo, entry, frame);
        table = frame;
        continue;
      }
      if (level < 4 && lo & PTE_PS) {
        if (undo === null) return 0;
        const frame = this.splitLarge(entry, level, lo, this.hi(entry), linear, undo);
        if (frame === 0) return -1;
        table = frame;
        continue;
      }
      table = entryAddress(lo, this.hi(entry));
    }
    return table + tableIndex(linear, 1) * 8;
  }

  /**
   * The leaf entry mapping `linear` (any page size) and its level, without side effects: writes the entry address
   * into `out[0]` and the level into `out[1]`. Returns false when a level on the way is not present.
   */
  leafFor(pml4: number, linear: number, out: Float64Array): boolean {
    let table = pml4;
    for (let level = 4; level >= 1; level--) {
      const entry = table + tableIndex(linear, level) * 8;
      const lo = this.lo(entry);
      if (level === 1 || (level < 4 && lo & PTE_P && lo & PTE_PS)) {
        out[0] = entry;
        out[1] = level;
        return (lo & PTE_P) !== 0;
      }
      if (!(lo & PTE_P)) return false;
      table = entryAddress(lo, this.hi(entry));
    }
    return false;
  }

  /** The linear address translated by the entry at `entry`, which lies in a registered table. */
  linearOf(entry: number): number {
    const table = entry - (entry % 0x1000);
    const info = this.tables.get(table)!;
    return info.base + ((entry - table) / 8) * ENTRY_SPAN[info.level]!;
  }
}
