import {
  Access,
  type AccessKind,
  checkInteger,
  type FrameAllocator,
  formatCanonical48,
  InvalidArgumentError,
  type MapResult,
  PageFault,
  type PhysAddr,
  type PhysicalMemory,
  type Protection,
  type VirtAddr,
  type VirtualLayout,
  type VirtualMemory,
} from "@ksim/core";
import type { DmaArch } from "../dma.js";

const PAGE = 0x1000;
/** One page table maps 2 MiB, as on x86-64: a map call needs one table frame per 2 MiB region it first touches. */
const TABLE_SPAN = 0x20_0000;
const GiB = 0x4000_0000;

/** The original kernel's windows (48-bit linear form), enough for the DMA/MMIO layer. */
export const TEST_LAYOUT: VirtualLayout = {
  user: { name: "user", base: 0, size: 0x8000_0000_0000 },
  kernel: { name: "kernel", base: 0xf000_0000_0000, size: 0x800_0000_0000 },
  dma: { name: "dma", base: 0xf800_0000_0000, size: 64 * GiB },
  heap: { name: "heap", base: 0xff00_0000_0000, size: 0x80_0000_0000 },
  hhdm: { name: "hhdm", base: 0xff80_0000_0000, size: 64 * GiB },
  mmio: { name: "mmio", base: 0xfff0_0000_0000, size: 4 * GiB },
  driver: { name: "driver", base: 0xffff_0000_0000, size: 2 * GiB },
};

interface PageEntry {
  readonly phys: PhysAddr;
  readonly protection: Protection;
}

/**
 * A test-only {@link DmaArch}: kernel-mode virtual memory as a plain page map over a `PhysicalMemory`, with no TLB
 * to go stale. It keeps the parts of the `VirtualMemory` contract the DMA layer relies on: mapping is all or
 * nothing, a page already mapped is refused, page tables cost frames (one per 2 MiB region, taken from `frames`,
 * never freed on unmap, given back when a map fails), and an access to an unmapped page throws `PageFault`.
 * The real x86-64 architecture (`@ksim/arch-x86_64`) is what the main tests use.
 */
export class PageMapArch implements DmaArch {
  readonly pageSize = PAGE;
  readonly physicalAddressBits = 52;
  readonly layout: VirtualLayout = TEST_LAYOUT;
  readonly memory: PageMapMemory;

  constructor(physical: PhysicalMemory, frames: FrameAllocator) {
    this.memory = new PageMapMemory(physical, frames);
  }

  formatAddress(virt: VirtAddr): string {
    return formatCanonical48(virt);
  }

  /** mem_getPhysicalAddress: the physical address `virt` maps to, or 0. */
  getPhysicalAddress(_dir: number, virt: VirtAddr): PhysAddr {
    const phys = this.memory.translate(virt);
    return phys < 0 ? 0 : phys;
  }
}

/** The {@link VirtualMemory} of {@link PageMapArch}. */
export class PageMapMemory implements VirtualMemory {
  readonly #physical: PhysicalMemory;
  readonly #frames: FrameAllocator;
  readonly #pages = new Map<number, PageEntry>();
  readonly #tables = new Map<number, PhysAddr>();

  constructor(physical: PhysicalMemory, frames: FrameAllocator) {
    this.#physical = physical;
    this.#frames = frames;
  }

  /** Frames held as page tables. */
  get tableFrames(): number {
    return this.#tables.size;
  }

  /** Pages mapped now. */
  get mappedPages(): number {
    return this.#pages.size;
  }

  map(virt: VirtAddr, phys: PhysAddr, size: number, protection: Protection): MapResult {
    checkRange(virt, size);
    checkInteger("phys", phys);
    if (phys % PAGE !== 0) throw new InvalidArgumentError("phys", phys, "not page-aligned");
    for (let v = virt; v < virt + size; v += PAGE) {
      if (this.#pages.has(v / PAGE)) {
        return { ok: false, reason: "already-mapped", address: v, message: `${formatCanonical48(v)} is mapped` };
      }
    }
    const taken: number[] = [];
    for (let t = Math.floor(virt / TABLE_SPAN); t * TABLE_SPAN < virt + size; t++) {
      if (this.#tables.has(t)) continue;
      const frame = this.#frames.allocFrame();
      if (frame === 0) {
        for (const u of taken) {
          this.#frames.free(this.#tables.get(u)!);
          this.#tables.delete(u);
        }
        return { ok: false, reason: "out-of-frames", address: t * TABLE_SPAN, message: "no frame for a page table" };
      }
      this.#tables.set(t, frame);
      taken.push(t);
    }
    for (let i = 0; i < size; i += PAGE) this.#pages.set((virt + i) / PAGE, { phys: phys + i, protection });
    return { ok: true };
  }

  unmap(virt: VirtAddr, size: number): void {
    checkRange(virt, size);
    for (let v = virt; v < virt + size; v += PAGE) this.#pages.delete(v / PAGE);
  }

  protect(virt: VirtAddr, size: number, protection: Protection): void {
    checkRange(virt, size);
    for (let v = virt; v < virt + size; v += PAGE) {
      if (!this.#pages.has(v / PAGE)) throw new InvalidArgumentError("virt", v, "not mapped");
    }
    for (let v = virt; v < virt + size; v += PAGE) {
      const entry = this.#pages.get(v / PAGE)!;
      this.#pages.set(v / PAGE, { phys: entry.phys, protection });
    }
  }

  /** Physical address of `virt` and the protection of the page; for tests. */
  entry(virt: VirtAddr): { phys: PhysAddr; protection: Protection } | undefined {
    const e = this.#pages.get(Math.floor(virt / PAGE));
    return e === undefined ? undefined : { phys: e.phys + (virt % PAGE), protection: e.protection };
  }

  translate(virt: VirtAddr): number {
    const e = this.#pages.get(Math.floor(virt / PAGE));
    return e === undefined ? -1 : e.phys + (virt % PAGE);
  }

  read8(virt: VirtAddr): number {
    return this.#physical.read8(this.#at(virt, 1, Access.Read));
  }
  read16(virt: VirtAddr): number {
    return this.#physical.read16(this.#at(virt, 2, Access.Read));
  }
  read32(virt: VirtAddr): number {
    return this.#physical.read32(this.#at(virt, 4, Access.Read));
  }
  read64(virt: VirtAddr): bigint {
    return this.#physical.read64(this.#at(virt, 8, Access.Read));
  }
  write8(virt: VirtAddr, value: number): void {
    this.#physical.write8(this.#at(virt, 1, Access.Write), value);
  }
  write16(virt: VirtAddr, value: number): void {
    this.#physical.write16(this.#at(virt, 2, Access.Write), value);
  }
  write32(virt: VirtAddr, value: number): void {
    this.#physical.write32(this.#at(virt, 4, Access.Write), value);
  }
  write64(virt: VirtAddr, value: bigint): void {
    this.#physical.write64(this.#at(virt, 8, Access.Write), value);
  }

  fill(virt: VirtAddr, length: number, byte: number): void {
    this.#chunks(virt, length, Access.Write, (phys, _offset, n) => this.#physical.fill(phys, n, byte));
  }

  copy(destination: VirtAddr, source: VirtAddr, length: number): void {
    const staged = new Uint8Array(length);
    this.read(source, staged);
    this.write(destination, staged);
  }

  read(virt: VirtAddr, into: Uint8Array): void {
    this.#chunks(virt, into.length, Access.Read, (phys, offset, n) =>
      this.#physical.read(phys, into.subarray(offset, offset + n)),
    );
  }

  write(virt: VirtAddr, from: Uint8Array): void {
    this.#chunks(virt, from.length, Access.Write, (phys, offset, n) =>
      this.#physical.write(phys, from.subarray(offset, offset + n)),
    );
  }

  /** Translates an access of `width` bytes that must not cross a page (the tests keep accesses aligned). */
  #at(virt: VirtAddr, width: number, access: AccessKind): PhysAddr {
    if ((virt % PAGE) + width > PAGE) throw new InvalidArgumentError("virt", virt, "access crosses a page");
    return this.#translateOrFault(virt, access);
  }

  #translateOrFault(virt: VirtAddr, access: AccessKind): PhysAddr {
    const e = this.#pages.get(Math.floor(virt / PAGE));
    if (e === undefined) {
      throw new PageFault(
        { address: virt, errorCode: access === Access.Write ? 2 : 0, access, user: false, reason: "page not present" },
        formatCanonical48(virt),
      );
    }
    if (access === Access.Write && !e.protection.writable) {
      throw new PageFault(
        { address: virt, errorCode: 3, access, user: false, reason: "write to a read-only page" },
        formatCanonical48(virt),
      );
    }
    return e.phys + (virt % PAGE);
  }

  /** Runs `step` on each page-sized piece of `[virt, virt + length)`, translating every page first. */
  #chunks(
    virt: VirtAddr,
    length: number,
    access: AccessKind,
    step: (phys: PhysAddr, offset: number, n: number) => void,
  ): void {
    const pieces: Array<[number, number, number]> = [];
    for (let offset = 0; offset < length; ) {
      const v = virt + offset;
      const n = Math.min(PAGE - (v % PAGE), length - offset);
      pieces.push([this.#translateOrFault(v, access), offset, n]);
      offset += n;
    }
    for (const [phys, offset, n] of pieces) step(phys, offset, n);
  }
}

function checkRange(virt: VirtAddr, size: number): void {
  checkInteger("virt", virt);
  checkInteger("size", size, 1);
  if (virt % PAGE !== 0) throw new InvalidArgumentError("virt", virt, "not page-aligned");
  if (size % PAGE !== 0) throw new InvalidArgumentError("size", size, "not a page multiple");
}
