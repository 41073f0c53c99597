import {
  Access,
  type AccessKind,
  checkAligned,
  checkInteger,
  checkPhysAddr,
  checkSize,
  type DirectViewSlot,
  GeneralProtectionFault,
  InvalidArgumentError,
  KernelPanic,
  LINEAR_LIMIT_48,
  type MapResult,
  type MemoryTypeValue,
  type PhysicalMemory,
  type Protection,
  type VirtualMemory,
} from "@ksim/core";
import type { X86Mmu } from "./mmu.js";
import { ENTRY_SPAN, type PageTables, type UndoLog } from "./page-tables.js";
import { patBits } from "./pat.js";
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
  PTE_PAT_LARGE,
  PTE_PS,
  PTE_RW,
  PTE_US,
} from "./pte.js";
import {
  L1_KERNEL_READ,
  L1_KERNEL_WRITE,
  L1_STRIDE,
  L1_USER_READ,
  L1_USER_WRITE,
  type Tlb,
  VIEW_PENDING,
} from "./tlb.js";

const PAGE = 0x1000;

/** What {@link X86VirtualMemory} needs from the architecture. */
export interface VirtualMemoryHost {
  readonly mmu: X86Mmu;
  readonly physical: PhysicalMemory;
  readonly tables: PageTables;
  readonly physicalAddressBits: number;
  /** Gives back a frame a leaf owned (bit 9) when the leaf is removed. */
  readonly frames: { isManaged(a: number): boolean; refCount(a: number): number; release(a: number): number };
  /** The physical address of `virt` under the PML4 `pml4`, or -1; no side effects. */
  resolve(pml4: number, virt: number): number;
}

/**
 * Access to virtual memory through the MMU in the current address space, in kernel mode (or user mode for
 * `user = true`): every access is translated by the MMU (TLB, walk, A/D bits, permission checks) and faults throw
 * `PageFault`. Scalar accesses first look in the MMU's L1 TLB array for their kind of access (one typed-array
 * probe, no allocation); a miss goes through `X86Mmu.lookup`. Bulk operations translate once per page and hand
 * physically contiguous runs to the physical memory's typed-array operations.
 */
export class X86VirtualMemory implements VirtualMemory {
  declare private readonly mmu: X86Mmu;
  declare private readonly mem: PhysicalMemory;
  declare private readonly host: VirtualMemoryHost;
  declare private readonly user: boolean;
  // The MMU's L1 TLB arrays for this privilege (stable objects, emptied and refilled by the MMU).
  declare private readonly l1Read: Float64Array;
  declare private readonly l1Write: Float64Array;
  declare private readonly tlb: Tlb;
  declare private readonly l1ReadIndex: number;
  declare private readonly l1WriteIndex: number;
  declare private readonly l1ReadViews: DataView[];
  declare private readonly l1WriteViews: DataView[];
  declare private readonly l1Mask: number;
  // Tier 1 of the L1 (see Tlb.l1Linear): page tags and offsets into the memory's one linear view.
  declare private readonly linear: DataView;
  declare private readonly readTags: Float64Array;
  declare private readonly readOffsets: Int32Array;
  declare private readonly writeTags: Float64Array;
  declare private readonly writeOffsets: Int32Array;
  private readonly scratch = new Float64Array(2);

  /** @param user CPL 3 accesses (U/S checks, SMAP does not apply) instead of supervisor ones. */
  constructor(host: VirtualMemoryHost, user: boolean) {
    this.host = host;
    this.mmu = host.mmu;
    this.mem = host.physical;
    this.user = user;
    const tlb = host.mmu.tlb;
    this.l1Read = tlb.l1[user ? L1_USER_READ : L1_KERNEL_READ]!;
    this.l1Write = tlb.l1[user ? L1_USER_WRITE : L1_KERNEL_WRITE]!;
    this.tlb = tlb;
    this.l1ReadIndex = user ? L1_USER_READ : L1_KERNEL_READ;
    this.l1WriteIndex = user ? L1_USER_WRITE : L1_KERNEL_WRITE;
    this.l1ReadViews = tlb.l1Views[user ? L1_USER_READ : L1_KERNEL_READ]!;
    this.l1WriteViews = tlb.l1Views[user ? L1_USER_WRITE : L1_KERNEL_WRITE]!;
    this.l1Mask = tlb.l1Mask;
    this.linear = tlb.linear;
    this.readTags = tlb.l1Linear[this.l1ReadIndex]!;
    this.readOffsets = tlb.l1LinearOffsets[this.l1ReadIndex]!;
    this.writeTags = tlb.l1Linear[this.l1WriteIndex]!;
    this.writeOffsets = tlb.l1LinearOffsets[this.l1WriteIndex]!;
  }

  // ---------------------------------------------------------------- mapping

  /**
   * Maps `size` bytes at `virt` to `phys` with 4 KiB pages, creating tables. All or nothing: fails with
   * `already-mapped` if any page is present, `out-of-frames` if a table cannot be allocated (tables made by the call
   * are given back).
   */
  map(virt: number, phys: number, size: number, protection: Protection): MapResult {
    this.checkRange(virt, size);
    checkPhysAddr("phys", phys);
    checkAligned("phys", phys, PAGE);
    if (phys + size > 2 ** this.host.physicalAddressBits) {
      throw new InvalidArgumentError(
        "phys",
        phys,
        `range ends beyond MAXPHYADDR (${this.host.physicalAddressBits} bits)`,
      );
    }
    const { lo: flagsLo, hi: flagsHi } = this.protectionBits(protection);
    const tables = this.host.tables;
    const pml4 = this.mmu.pml4Base;
    for (let v = virt; v < virt + size; v += PAGE) {
      if (this.presentLeaf(pml4, v) !== 0) {
        return { ok: false, reason: "already-mapped", address: v, message: `0x${v.toString(16)} is already mapped` };
      }
    }
    const undo: UndoLog = [];
    for (let v = virt; v < virt + size; v += PAGE) {
      if (tables.pteFor(pml4, v, undo) < 0) {
        tables.rollback(undo);
        return { ok: false, reason: "out-of-frames", address: v, message: "no frame for a page table" };
      }
    }
    for (let offset = 0; offset < size; offset += PAGE) {
      const pte = tables.pteFor(pml4, virt + offset, null);
      tables.write(pte, flagsLo | addressLo(phys + offset), flagsHi | addressHi(phys + offset));
      this.mmu.invalidate(virt + offset);
    }
    return { ok: true };
  }

  /** 1 when a present leaf maps `v` with a PTE, 2 when a large page does, 0 when nothing is mapped. */
  private presentLeaf(pml4: number, v: number): number {
    if (!this.host.tables.leafFor(pml4, v, this.scratch)) return 0;
    return this.scratch[1] === 1 ? 1 : 2;
  }

  /**
   * Removes the mappings of `size` bytes at `virt`. Frames mapped with {@link map} stay the caller's; a frame the
   * page owned (mem_allocatePage) is released. Unmapped pages in the range are skipped. A large page (2 MiB, 1 GiB)
   * wholly inside the range goes at once; one the range covers in part is first split into smaller pages.
   * @throws KernelPanic(OUT_OF_MEMORY) when no frame is left for the tables of a split; nothing changes.
   */
  unmap(virt: number, size: number): void {
    this.checkRange(virt, size);
    this.splitPartialLarge(virt, size);
    const pml4 = this.mmu.pml4Base;
    const tables = this.host.tables;
    for (let v = virt; v < virt + size; ) {
      const large = this.largeLeafAt(pml4, v);
      if (large !== 0) {
        tables.write(large, 0, 0);
        this.mmu.invalidate(v);
        v += ENTRY_SPAN[this.scratch[1]!]!;
        continue;
      }
      const pte = tables.pteFor(pml4, v, null);
      v += PAGE;
      if (pte === 0) continue;
      const lo = tables.lo(pte);
      const hi = tables.hi(pte);
      if (lo === 0 && hi === 0) continue;
      tables.write(pte, 0, 0);
      this.mmu.invalidate(v - PAGE);
      if (lo & PTE_OWNED) {
        const frame = entryAddress(lo, hi);
        const frames = this.host.frames;
        if (frames.isManaged(frame) && frames.refCount(frame) > 0) frames.release(frame);
      }
    }
  }

  /**
   * Changes the protection of every page in the range, keeping frames, A/D and software bits. A large page the
   * range covers in part is first split; one wholly inside keeps its size.
   * @throws InvalidArgumentError if a page in the range is not mapped (nothing changes); KernelPanic(OUT_OF_MEMORY)
   *   when no frame is left for the tables of a split (nothing changes).
   */
  protect(virt: number, size: number, protection: Protection): void {
    this.checkRange(virt, size);
    const { lo: flagsLo, hi: flagsHi } = this.protectionBits(protection);
    const pml4 = this.mmu.pml4Base;
    const tables = this.host.tables;
    const scratch = this.scratch;
    for (let v = virt; v < virt + size; ) {
      if (!tables.leafFor(pml4, v, scratch)) throw new InvalidArgumentError("virt", v, "not mapped by a present page");
      v = v - (v % ENTRY_SPAN[scratch[1]!]!) + ENTRY_SPAN[scratch[1]!]!;
    }
    this.splitPartialLarge(virt, size);
    // A large leaf keeps PS and has its PAT bit at 12 (bit 7 in a 4 KiB entry).
    const largeLo = (flagsLo & ~PTE_PAT_4K) | PTE_PS | (flagsLo & PTE_PAT_4K ? PTE_PAT_LARGE : 0);
    for (let v = virt; v < virt + size; ) {
      tables.leafFor(pml4, v, scratch);
      const entry = scratch[0]!;
      const level = scratch[1]!;
      const lo = tables.lo(entry);
      const hi = tables.hi(entry);
      const keepHi = (hi & (PTE_ADDR_HI | PTE_HI_COW)) | flagsHi;
      if (level === 1) {
        tables.write(entry, (lo & (PTE_ADDR_LO | PTE_A | PTE_D | PTE_OWNED)) | flagsLo, keepHi);
      } else {
        tables.write(entry, (lo & ((PTE_ADDR_LO & ~PTE_PAT_LARGE) | PTE_A | PTE_D | PTE_OWNED)) | largeLo, keepHi);
      }
      this.mmu.invalidate(v);
      v += ENTRY_SPAN[level]!;
    }
  }

  /** The entry of the present large leaf (2 MiB or 1 GiB) mapping `v`, level in `scratch[1]`; 0 if there is none. */
  private largeLeafAt(pml4: number, v: number): number {
    const scratch = this.scratch;
    return this.host.tables.leafFor(pml4, v, scratch) && scratch[1]! > 1 ? scratch[0]! : 0;
  }

  /**
   * Splits the large pages that `[virt, virt + size)` covers only in part (they can only sit at its two ends), down
   * to 4 KiB pages along the edge, so that the range starts and ends on leaf boundaries. Translations do not change.
   * All or nothing: on running out of frames every table made is given back and the large pages are restored.
   */
  private splitPartialLarge(virt: number, size: number): void {
    const pml4 = this.mmu.pml4Base;
    const tables = this.host.tables;
    const undo: UndoLog = [];
    for (const v of [virt, virt + size - PAGE]) {
      if (this.largeLeafAt(pml4, v) === 0) continue;
      const span = ENTRY_SPAN[this.scratch[1]!]!;
      const base = v - (v % span);
      if (base >= virt && base + span <= virt + size) continue;
      if (tables.pteFor(pml4, v, undo) < 0) {
        tables.rollback(undo);
        throw new KernelPanic(
          "OUT_OF_MEMORY",
          "mem",
          `no frame for a page table while splitting the large page at 0x${base.toString(16)}`,
        );
      }
    }
  }

  private protectionBits(protection: Protection): { lo: number; hi: number } {
    if (typeof protection !== "object" || protection === null) {
      throw new InvalidArgumentError("protection", protection, "not a Protection object");
    }
    const type = protection.memoryType;
    let index = 0;
    if (type !== undefined) {
      index = this.patIndexOf(type);
    }
    const lo =
      PTE_P |
      (protection.writable ? PTE_RW : 0) |
      (protection.user ? PTE_US : 0) |
      (protection.global ? PTE_G : 0) |
      patBits(index, false);
    return { lo, hi: protection.executable ? 0 : PTE_HI_XD };
  }

  /** The first PAT entry programmed with `type`. */
  private patIndexOf(type: MemoryTypeValue): number {
    for (let i = 0; i < 8; i++) if (this.mmu.patEntry(i) === type) return i;
    throw new InvalidArgumentError("memoryType", type, "no PAT entry is programmed with this memory type");
  }

  /** The physical address `virt` maps to, or -1. Does not touch A/D bits or the TLB. */
  translate(virt: number): number {
    this.checkAddress(virt, 1);
    return this.host.resolve(this.mmu.pml4Base, virt);
  }

  // ---------------------------------------------------------------- checks

  private checkRange(virt: number, size: number): void {
    this.checkAddress(virt, size);
    checkAligned("virt", virt, PAGE);
    checkSize("size", size);
    checkAligned("size", size, PAGE);
  }

  /** `virt` must be an integer; `[virt, virt + length)` must lie in the 48-bit linear space (else #GP). */
  private checkAddress(virt: number, length: number): void {
    checkInteger("virt", virt, 0, Number.MAX_SAFE_INTEGER);
    checkInteger("length", length, 0);
    if (virt + length > LINEAR_LIMIT_48) {
      throw new GeneralProtectionFault(virt, "access beyond the 48-bit linear space (non-canonical)");
    }
  }

  // ---------------------------------------------------------------- translation for accesses

  /** Bulk-path translation of an integer `virt`: the L1 array first, then the MMU. Throws the fault. */
  private physFor(virt: number, access: AccessKind): number {
    const vpn = Math.floor(virt / PAGE);
    const i = (vpn & this.l1Mask) * L1_STRIDE;
    const e = access === Access.Write ? this.l1Write : this.l1Read;
    if (e[i] === vpn) return e[i + 1]! + (virt - vpn * PAGE);
    return this.resolve(virt, access);
  }

  /** Translates `virt` for `access` through the MMU (which refills the L1 TLB); throws the fault. */
  private resolve(virt: number, access: AccessKind): number {
    const phys = this.mmu.lookup(virt, access, this.user);
    if (phys < 0) throw this.mmu.faultError();
    return phys;
  }

  // ---------------------------------------------------------------- scalar accesses
  // Three tiers, as in QEMU's softmmu TLB, each checked only when the one before does not serve the access:
  // 1. Tier 1 (inline below): the page's bytes are in the memory's linear view. One tag compare (the page's linear
  //    address), one offset load and one access through a view held in a field. `virt - off` is the page's address
  //    for an integer `virt`; a fractional, negative, NaN or too-large one matches no tag (tags are multiples of 4096
  //    below 2^48, or NaN), so it always reaches the checked path.
  // 2. The L1 slot (`readMiss`/`writeMiss`): the page has a view of its own (high RAM chunks, RAM-like device
  //    regions), or a frame only (registers, holes, never-written RAM: one call into the physical memory), or a view
  //    still pending after a miss filled the slot (looked up here, so the next access takes tier 1 or the view).
  // 3. The checked path: validate `virt`, translate through the MMU (TLB, walk, A/D, permissions; refills the L1),
  //    split an access that crosses a page. Faults throw.
  // Writes take tiers 1 and 2 only for a value the physical memory would store unchanged (it validates the rest),
  // and write entries exist only once the walk set the leaf's D bit. The miss paths are shared by all widths: one
  // function each for reads and writes, too big for V8 to inline into every caller's loop next to the hit path.

  /** Reads a byte. @throws PageFault, InvalidArgumentError, GeneralProtectionFault. */
  read8(virt: number): number {
    const low = virt >>> 0;
    const off = low & 0xfff;
    const j = (low >>> 12) & this.l1Mask;
    if (this.readTags[j] === virt - off) return this.linear.getUint8((this.readOffsets[j]! >>> 0) + off);
    return this.readMiss(virt, 1);
  }

  /** Reads a little-endian 16-bit value (split when it crosses a page). */
  read16(virt: number): number {
    const low = virt >>> 0;
    const off = low & 0xfff;
    const j = (low >>> 12) & this.l1Mask;
    if (this.readTags[j] === virt - off && off <= 4094) {
      return this.linear.getUint16((this.readOffsets[j]! >>> 0) + off, true);
    }
    return this.readMiss(virt, 2);
  }

  /** Reads an unsigned little-endian 32-bit value (split when it crosses a page). */
  read32(virt: number): number {
    const low = virt >>> 0;
    const off = low & 0xfff;
    const j = (low >>> 12) & this.l1Mask;
    if (this.readTags[j] === virt - off && off <= 4092) {
      return this.linear.getUint32((this.readOffsets[j]! >>> 0) + off, true);
    }
    return this.readMiss(virt, 4);
  }

  /** Reads an unsigned little-endian 64-bit value. */
  read64(virt: number): bigint {
    const phys = this.physSlow(virt, 8, Access.Read);
    return phys >= 0 ? this.mem.read64(phys) : BigInt(this.read32(virt)) | (BigInt(this.read32(virt + 4)) << 32n);
  }

  /** Writes a byte (sets D in the PTE). */
  write8(virt: number, value: number): void {
    const low = virt >>> 0;
    const off = low & 0xfff;
    const j = (low >>> 12) & this.l1Mask;
    if (this.writeTags[j] === virt - off && (value & 0xff) === value) {
      this.linear.setUint8((this.writeOffsets[j]! >>> 0) + off, value);
      return;
    }
    this.writeMiss(virt, 1, value);
  }

  /** Writes a 16-bit value; a crossing write faults before writing anything if either page refuses it. */
  write16(virt: number, value: number): void {
    const low = virt >>> 0;
    const off = low & 0xfff;
    const j = (low >>> 12) & this.l1Mask;
    if (this.writeTags[j] === virt - off && off <= 4094 && (value & 0xffff) === value) {
      this.linear.setUint16((this.writeOffsets[j]! >>> 0) + off, value, true);
      return;
    }
    this.writeMiss(virt, 2, value);
  }

  /** Writes a 32-bit value; a crossing write faults before writing anything if either page refuses it. */
  write32(virt: number, value: number): void {
    const low = virt >>> 0;
    const off = low & 0xfff;
    const j = (low >>> 12) & this.l1Mask;
    // A value in [-2^31, 2^32), as the physical memory accepts: stored as its low 32 bits.
    if (this.writeTags[j] === virt - off && off <= 4092 && (value >>> 0 === value || (value | 0) === value)) {
      this.linear.setUint32((this.writeOffsets[j]! >>> 0) + off, value, true);
      return;
    }
    this.writeMiss(virt, 4, value);
  }

  /** Writes a 64-bit value; a crossing write faults before writing anything if either page refuses it. */
  write64(virt: number, value: bigint): void {
    const phys = this.physSlow(virt, 8, Access.Write);
    if (phys >= 0) this.mem.write64(phys, value);
    else this.writeCrossing(virt, 8, BigInt.asUintN(64, value));
  }

  /**
   * VirtualMemory.pageView: a host view of `virt`'s page for several accesses in a row (see `@ksim/core`). A page in
   * tier 1 costs what a scalar hit costs; otherwise `virt` is validated and translated like an access (faults throw),
   * the L1 slot's view is looked up so that the next call hits, and the memory is asked for the page's view.
   */
  pageView(virt: number, write: boolean, slot: DirectViewSlot): DataView | null {
    const low = virt >>> 0;
    const off = low & 0xfff;
    const j = (low >>> 12) & this.l1Mask;
    if (write) {
      if (this.writeTags[j] === virt - off) {
        slot.offset = (this.writeOffsets[j]! >>> 0) + off;
        return this.linear;
      }
    } else if (this.readTags[j] === virt - off) {
      slot.offset = (this.readOffsets[j]! >>> 0) + off;
      return this.linear;
    }
    return this.pageViewMiss(virt, write, slot);
  }

  private pageViewMiss(virt: number, write: boolean, slot: DirectViewSlot): DataView | null {
    if (typeof write !== "boolean") throw new InvalidArgumentError("write", write, "not a boolean");
    const phys = this.physSlow(virt, 1, write ? Access.Write : Access.Read);
    const off = virt % PAGE;
    const vpn = (virt - off) / PAGE;
    const j = vpn & this.l1Mask;
    const e = write ? this.l1Write : this.l1Read;
    if (e[j * L1_STRIDE] === vpn && e[j * L1_STRIDE + 3] === VIEW_PENDING) {
      this.tlb.resolveView(write ? this.l1WriteIndex : this.l1ReadIndex, j);
    }
    const mem = this.mem;
    const view = mem.directView === undefined ? null : mem.directView(phys - off, write, slot);
    if (view !== null) slot.offset += off;
    return view;
  }

  /** Tiers 2 and 3 of a read of `width` (1, 2 or 4) bytes. */
  private readMiss(virt: number, width: number): number {
    const off = virt & 0xfff;
    const vpn = (virt - off) * 0.000244140625; // / 4096, exact; fractional when virt is, and then matches no tag
    const j = vpn & this.l1Mask;
    const e = this.l1Read;
    const i = j * L1_STRIDE;
    if (off <= 4096 - width) {
      if (e[i + 2] === vpn) {
        const view = this.l1ReadViews[j]!;
        const at = e[i + 3]! + off;
        return width === 4 ? view.getUint32(at, true) : width === 2 ? view.getUint16(at, true) : view.getUint8(at);
      }
      if (e[i] === vpn) {
        if (e[i + 3] === VIEW_PENDING) this.tlb.resolveView(this.l1ReadIndex, j);
        return this.readPhysical(e[i + 1]! + off, width);
      }
    }
    const phys = this.physSlow(virt, width, Access.Read);
    if (phys >= 0) return this.readPhysical(phys, width);
    // Crossing a page: two halves, low first (each faults on its own page).
    const half = width >>> 1;
    const lowHalf = half === 2 ? this.read16(virt) : this.read8(virt);
    const highHalf = half === 2 ? this.read16(virt + 2) : this.read8(virt + 1);
    return (lowHalf + highHalf * 2 ** (8 * half)) >>> 0;
  }

  private readPhysical(phys: number, width: number): number {
    const mem = this.mem;
    return width === 4 ? mem.read32(phys) : width === 2 ? mem.read16(phys) : mem.read8(phys);
  }

  /** Tiers 2 and 3 of a write of `width` (1, 2 or 4) bytes. */
  private writeMiss(virt: number, width: number, value: number): void {
    const off = virt & 0xfff;
    const vpn = (virt - off) * 0.000244140625;
    const j = vpn & this.l1Mask;
    const e = this.l1Write;
    const i = j * L1_STRIDE;
    if (off <= 4096 - width) {
      if (e[i + 2] === vpn && storesUnchanged(width, value)) {
        const view = this.l1WriteViews[j]!;
        const at = e[i + 3]! + off;
        if (width === 4) view.setUint32(at, value, true);
        else if (width === 2) view.setUint16(at, value, true);
        else view.setUint8(at, value);
        return;
      }
      if (e[i] === vpn) {
        if (e[i + 3] === VIEW_PENDING) this.tlb.resolveView(this.l1WriteIndex, j);
        this.writePhysical(e[i + 1]! + off, width, value);
        return;
      }
    }
    const phys = this.physSlow(virt, width, Access.Write);
    if (phys >= 0) {
      this.writePhysical(phys, width, value);
      return;
    }
    const bits = 8 * width;
    checkInteger("value", value, -(2 ** (bits - 1)), 2 ** bits - 1);
    this.writeCrossing(virt, width, BigInt(width === 4 ? value >>> 0 : value & 0xffff));
  }

  private writePhysical(phys: number, width: number, value: number): void {
    const mem = this.mem;
    if (width === 4) mem.write32(phys, value);
    else if (width === 2) mem.write16(phys, value);
    else mem.write8(phys, value);
  }

  /**
   * The checked path of a scalar access: validates `virt`, then translates it through the MMU (which refills the
   * L1). Returns -1 when the access crosses into the next page (the caller splits it). Throws the fault.
   */
  private physSlow(virt: number, size: number, access: AccessKind): number {
    this.checkAddress(virt, size);
    if ((virt & 0xfff) > 4096 - size) return -1;
    return this.resolve(virt, access);
  }

  /** A write that crosses a page: both pages are translated first, so a fault writes nothing. */
  private writeCrossing(virt: number, size: number, value: bigint): void {
    this.resolve(virt + size - 1, Access.Write);
    this.resolve(virt, Access.Write);
    for (let k = 0; k < size; k++) this.write8(virt + k, Number((value >> BigInt(8 * k)) & 0xffn));
  }

  // ---------------------------------------------------------------- bulk accesses

  /** memset: translates each page for writing and fills physically contiguous runs at once. */
  fill(virt: number, length: number, byte: number): void {
    this.checkAddress(virt, length);
    checkInteger("byte", byte, 0, 255);
    let runStart = -1;
    let runLength = 0;
    let v = virt;
    const end = virt + length;
    while (v < end) {
      const chunk = Math.min(PAGE - (v & 0xfff), end - v);
      const phys = this.physFor(v, Access.Write);
      if (runStart >= 0 && runStart + runLength === phys) {
        runLength += chunk;
      } else {
        if (runStart >= 0) this.mem.fill(runStart, runLength, byte);
        runStart = phys;
        runLength = chunk;
      }
      v += chunk;
    }
    if (runStart >= 0) this.mem.fill(runStart, runLength, byte);
  }

  /** memmove between virtual ranges. Overlapping ranges go through a temporary buffer. */
  copy(destination: number, source: number, length: number): void {
    this.checkAddress(destination, length);
    this.checkAddress(source, length);
    if (length === 0) return;
    if (destination < source + length && source < destination + length) {
      const temp = new Uint8Array(length);
      this.read(source, temp);
      this.write(destination, temp);
      return;
    }
    let done = 0;
    while (done < length) {
      const s = source + done;
      const d = destination + done;
      const chunk = Math.min(PAGE - (s & 0xfff), PAGE - (d & 0xfff), length - done);
      const from = this.physFor(s, Access.Read);
      const to = this.physFor(d, Access.Write);
      this.mem.copy(to, from, chunk);
      done += chunk;
    }
  }

  /** Reads `into.length` bytes at `virt`, page by page. */
  read(virt: number, into: Uint8Array): void {
    this.checkAddress(virt, into.length);
    let done = 0;
    while (done < into.length) {
      const v = virt + done;
      const chunk = Math.min(PAGE - (v & 0xfff), into.length - done);
      this.mem.read(this.physFor(v, Access.Read), into.subarray(done, done + chunk));
      done += chunk;
    }
  }

  /** Writes all of `from` at `virt`, page by page. */
  write(virt: number, from: Uint8Array): void {
    this.checkAddress(virt, from.length);
    let done = 0;
    while (done < from.length) {
      const v = virt + done;
      const chunk = Math.min(PAGE - (v & 0xfff), from.length - done);
      this.mem.write(this.physFor(v, Access.Write), from.subarray(done, done + chunk));
      done += chunk;
    }
  }
}

/** True when a write of `width` bytes stores `value` exactly as the physical memory would (no validation needed). */
function storesUnchanged(width: number, value: number): boolean {
  if (width === 4) return value >>> 0 === value || (value | 0) === value;
  return (value & (width === 2 ? 0xffff : 0xff)) === value;
}
