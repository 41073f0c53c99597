import {
  Access,
  type MapResult,
  PAGE_SIZE,
  PageFault,
  type PhysAddr,
  type Protection,
  type VirtAddr,
  type VirtualMemory,
} from "@ksim/core";

/**
 * Test double of kernel virtual memory: a page-granular map from virtual pages to frames of one RAM buffer. No
 * page tables and no TLB, so it is fast and never needs frames of its own; an access to an unmapped page throws
 * `PageFault` as the real MMU would. {@link FakeMemory.failMapAfter} injects a page-table allocation failure.
 */
export class FakeMemory implements VirtualMemory {
  readonly ram: Uint8Array;
  private readonly pages = new Map<number, number>();
  private readonly view: DataView;
  /** Map calls left before map() reports out-of-frames (Infinity: never). */
  failMapAfter = Number.POSITIVE_INFINITY;
  /** Counts of calls, for tests that look at traffic. */
  readonly calls = { map: 0, unmap: 0 };

  constructor(physicalSize: number) {
    this.ram = new Uint8Array(physicalSize);
    this.view = new DataView(this.ram.buffer);
  }

  /** Pages currently mapped. */
  get mappedPages(): number {
    return this.pages.size;
  }

  map(virt: VirtAddr, phys: PhysAddr, size: number, _protection: Protection): MapResult {
    this.calls.map++;
    for (let offset = 0; offset < size; offset += PAGE_SIZE) {
      if (this.pages.has((virt + offset) / PAGE_SIZE)) {
        return { ok: false, reason: "already-mapped", address: virt + offset, message: "page already mapped" };
      }
    }
    if (this.failMapAfter <= 0) {
      return { ok: false, reason: "out-of-frames", address: virt, message: "injected page-table failure" };
    }
    this.failMapAfter--;
    for (let offset = 0; offset < size; offset += PAGE_SIZE) this.pages.set((virt + offset) / PAGE_SIZE, phys + offset);
    return { ok: true };
  }

  unmap(virt: VirtAddr, size: number): void {
    this.calls.unmap++;
    for (let offset = 0; offset < size; offset += PAGE_SIZE) this.pages.delete((virt + offset) / PAGE_SIZE);
  }

  protect(): void {}

  translate(virt: VirtAddr): number {
    const frame = this.pages.get(Math.floor(virt / PAGE_SIZE));
    return frame === undefined ? -1 : frame + (virt % PAGE_SIZE);
  }

  read8(virt: VirtAddr): number {
    return this.ram[this.physical(virt, 1, Access.Read)]!;
  }
  read16(virt: VirtAddr): number {
    return this.view.getUint16(this.physical(virt, 2, Access.Read), true);
  }
  read32(virt: VirtAddr): number {
    return this.view.getUint32(this.physical(virt, 4, Access.Read), true);
  }
  read64(virt: VirtAddr): bigint {
    return this.view.getBigUint64(this.physical(virt, 8, Access.Read), true);
  }
  write8(virt: VirtAddr, value: number): void {
    this.ram[this.physical(virt, 1, Access.Write)] = value;
  }
  write16(virt: VirtAddr, value: number): void {
    this.view.setUint16(this.physical(virt, 2, Access.Write), value, true);
  }
  write32(virt: VirtAddr, value: number): void {
    this.view.setUint32(this.physical(virt, 4, Access.Write), value, true);
  }
  write64(virt: VirtAddr, value: bigint): void {
    this.view.setBigUint64(this.physical(virt, 8, Access.Write), value, true);
  }

  fill(virt: VirtAddr, length: number, byte: number): void {
    this.eachPage(virt, length, Access.Write, (phys, offset, n) => {
      this.ram.fill(byte, phys, phys + n);
      return offset;
    });
  }

  copy(destination: VirtAddr, source: VirtAddr, length: number): void {
    const buffer = new Uint8Array(length);
    this.read(source, buffer);
    this.write(destination, buffer);
  }

  read(virt: VirtAddr, into: Uint8Array): void {
    this.eachPage(virt, into.length, Access.Read, (phys, offset, n) => {
      into.set(this.ram.subarray(phys, phys + n), offset);
      return offset;
    });
  }

  write(virt: VirtAddr, from: Uint8Array): void {
    this.eachPage(virt, from.length, Access.Write, (phys, offset, n) => {
      this.ram.set(from.subarray(offset, offset + n), phys);
      return offset;
    });
  }

  /** Physical address of an access that must not cross a page (the heap's 2/4/8-byte accesses are aligned). */
  private physical(virt: VirtAddr, size: number, access: 0 | 1 | 2): number {
    const phys = this.translate(virt);
    if (phys < 0 || (virt % PAGE_SIZE) + size > PAGE_SIZE) this.fault(virt, access);
    return phys;
  }

  private eachPage(
    virt: VirtAddr,
    length: number,
    access: 0 | 1 | 2,
    visit: (phys: number, offset: number, n: number) => number,
  ): void {
    // Check the whole range first, so a faulting access changes nothing.
    for (let page = Math.floor(virt / PAGE_SIZE) * PAGE_SIZE; page < virt + length; page += PAGE_SIZE) {
      if (!this.pages.has(page / PAGE_SIZE)) this.fault(Math.max(page, virt), access);
    }
    let offset = 0;
    while (offset < length) {
      const at = virt + offset;
      const n = Math.min(length - offset, PAGE_SIZE - (at % PAGE_SIZE));
      visit(this.translate(at), offset, n);
      offset += n;
    }
  }

  private fault(virt: VirtAddr, access: 0 | 1 | 2): never {
    throw new PageFault({
      address: virt,
      errorCode: access === Access.Write ? 2 : 0,
      access,
      user: false,
      reason: "page not mapped",
    });
  }
}
