import type { DirectViewSlot, MapResult, PhysAddr, VirtAddr, VirtualMemory } from "@ksim/core";

/**
 * A VirtualMemory with no MMU: `[base, base + size)` maps one-to-one onto a typed array, so the heap's own work
 * can be timed without page-table translation. Bench-only; it checks nothing.
 */
export class FlatMemory implements VirtualMemory {
  private readonly bytes: Uint8Array;
  private readonly view: DataView;

  constructor(
    private readonly base: VirtAddr,
    size: number,
  ) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  /** Frames "mapped" per page (bytes live at their virtual offset; the frames are only handed back on unmap). */
  private readonly frames = new Map<number, PhysAddr>();

  map(virt: VirtAddr, phys: PhysAddr, size: number): MapResult {
    for (let offset = 0; offset < size; offset += 4096) this.frames.set(virt + offset, phys + offset);
    return { ok: true };
  }
  unmap(virt: VirtAddr, size: number): void {
    for (let offset = 0; offset < size; offset += 4096) this.frames.delete(virt + offset);
  }
  protect(): void {}
  translate(virt: VirtAddr): number {
    const page = virt - (virt % 4096);
    const frame = this.frames.get(page);
    return frame === undefined ? -1 : frame + (virt - page);
  }
  pageView(virt: VirtAddr, _write: boolean, slot: DirectViewSlot): DataView {
    slot.offset = virt - this.base;
    return this.view;
  }
  read8(virt: VirtAddr): number {
    return this.bytes[virt - this.base]!;
  }
  read16(virt: VirtAddr): number {
    return this.view.getUint16(virt - this.base, true);
  }
  read32(virt: VirtAddr): number {
    return this.view.getUint32(virt - this.base, true);
  }
  read64(virt: VirtAddr): bigint {
    return this.view.getBigUint64(virt - this.base, true);
  }
  write8(virt: VirtAddr, value: number): void {
    this.bytes[virt - this.base] = value;
  }
  write16(virt: VirtAddr, value: number): void {
    this.view.setUint16(virt - this.base, value, true);
  }
  write32(virt: VirtAddr, value: number): void {
    this.view.setUint32(virt - this.base, value, true);
  }
  write64(virt: VirtAddr, value: bigint): void {
    this.view.setBigUint64(virt - this.base, value, true);
  }
  fill(virt: VirtAddr, length: number, byte: number): void {
    this.bytes.fill(byte, virt - this.base, virt - this.base + length);
  }
  copy(destination: VirtAddr, source: VirtAddr, length: number): void {
    this.bytes.copyWithin(destination - this.base, source - this.base, source - this.base + length);
  }
  read(virt: VirtAddr, into: Uint8Array): void {
    into.set(this.bytes.subarray(virt - this.base, virt - this.base + into.length));
  }
  write(virt: VirtAddr, from: Uint8Array): void {
    this.bytes.set(from, virt - this.base);
  }
}
