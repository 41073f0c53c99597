import {
  checkInteger,
  type DirectViewSlot,
  InvalidArgumentError,
  type MemoryBacking,
  type PhysicalMemory,
} from "@ksim/core";

/**
 * A test-only {@link PhysicalMemory}: one flat RAM buffer from physical 0. Accesses beyond it read all ones and
 * drop writes, as on a real bus. Small and obviously correct; the real board lives in `@ksim/machine`.
 */
export class FlatMemory implements PhysicalMemory {
  // `declare`: no class-field initialisation to undefined, which would make V8 type these fields loosely.
  declare readonly size: number;
  declare readonly bytes: Uint8Array;
  declare private readonly view: DataView;
  /** The whole RAM, byte i at physical address i: what {@link directView} returns for every RAM page. */
  declare readonly linearView: DataView;

  /** @param size RAM size in bytes (a multiple of 4 KiB). */
  constructor(size: number) {
    checkInteger("size", size, 0x1000);
    this.size = size;
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
    this.linearView = this.view;
  }

  private inRam(address: number, length: number): boolean {
    return address >= 0 && address + length <= this.size;
  }

  private checkRange(address: number, length: number): void {
    checkInteger("address", address, 0, 2 ** 52 - 1);
    checkInteger("length", length, 0);
    if (address + length > 2 ** 52) throw new InvalidArgumentError("length", length, "range ends beyond 2^52");
  }

  read8(address: number): number {
    return this.inRam(address, 1) ? this.view.getUint8(address) : 0xff;
  }
  read16(address: number): number {
    return this.inRam(address, 2) ? this.view.getUint16(address, true) : 0xffff;
  }
  read32(address: number): number {
    return this.inRam(address, 4) ? this.view.getUint32(address, true) : 0xffff_ffff;
  }
  read64(address: number): bigint {
    return this.inRam(address, 8) ? this.view.getBigUint64(address, true) : 0xffff_ffff_ffff_ffffn;
  }
  write8(address: number, value: number): void {
    if (this.inRam(address, 1)) this.view.setUint8(address, value);
  }
  write16(address: number, value: number): void {
    if (this.inRam(address, 2)) this.view.setUint16(address, value, true);
  }
  write32(address: number, value: number): void {
    if (this.inRam(address, 4)) this.view.setUint32(address, value, true);
  }
  write64(address: number, value: bigint): void {
    if (this.inRam(address, 8)) this.view.setBigUint64(address, BigInt.asUintN(64, value), true);
  }
  fill(address: number, length: number, byte: number): void {
    this.checkRange(address, length);
    const end = Math.min(address + length, this.size);
    if (address < end) this.bytes.fill(byte, address, end);
  }
  copy(destination: number, source: number, length: number): void {
    this.checkRange(destination, length);
    this.checkRange(source, length);
    if (this.inRam(destination, length) && this.inRam(source, length)) {
      this.bytes.copyWithin(destination, source, source + length);
      return;
    }
    const temp = new Uint8Array(length);
    this.read(source, temp);
    this.write(destination, temp);
  }
  read(address: number, into: Uint8Array): void {
    this.checkRange(address, into.length);
    for (let i = 0; i < into.length; i++) into[i] = this.read8(address + i);
  }
  write(address: number, from: Uint8Array): void {
    this.checkRange(address, from.length);
    if (this.inRam(address, from.length)) {
      this.bytes.set(from, address);
      return;
    }
    for (let i = 0; i < from.length; i++) this.write8(address + i, from[i]!);
  }
  backing(address: number): MemoryBacking {
    return address < this.size ? { kind: "ram" } : { kind: "none" };
  }
  /** The buffer's view for any page wholly inside RAM (the page's offset is its address), else null. */
  directView(address: number, _forWrite: boolean, slot: DirectViewSlot): DataView | null {
    const page = address - (address % 0x1000);
    if (page + 0x1000 > this.size) return null;
    slot.offset = page;
    return this.view;
  }
  /** The topology of a flat RAM never changes: the listener is never called. */
  onTopologyChange(_listener: () => void): () => void {
    return () => {};
  }
}
