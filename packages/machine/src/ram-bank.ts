import { checkInteger, type DirectViewSlot, InvalidArgumentError } from "@ksim/core";

/**
 * A bank of RAM addressed by offset 0..size-1, as the {@link PhysicalBus} keeps it: {@link SparseRam} (64 KiB or
 * larger chunks, each allocated on first write) or {@link LinearRam} (one host buffer whose pages the host OS
 * commits on first write). Never-written RAM reads zeros in both.
 *
 * Accounting is in chunks either way: a chunk counts as allocated from its first write with something other than
 * zero until it is zeroed whole (`fill(..., 0)` over all of it).
 *
 * The validated methods (`read8`, `write8`, `read`, `write`, `fill`, `copy`, `isAllocated`) are for standalone
 * use; they throw `InvalidArgumentError` for bad arguments and then change nothing. The methods marked internal
 * take trusted arguments and are the bus's general path.
 */
export abstract class RamBank {
  /** Bytes of RAM. */
  abstract readonly size: number;
  /** Accounting grain in bytes: a power of two of at least 64 KiB. */
  abstract readonly chunkSize: number;
  /** `ceil(size / chunkSize)`. */
  abstract readonly chunkCount: number;
  /** Chunks counted as allocated (written with something other than zero and not zeroed whole since). */
  abstract get allocatedChunks(): number;

  /**
   * `allocatedChunks * chunkSize`: for {@link SparseRam} the host memory its chunks take; for {@link LinearRam} a
   * measure of what was written (the host commits 4 KiB pages on first write and keeps them when a chunk is zeroed).
   */
  get allocatedBytes(): number {
    return this.allocatedChunks * this.chunkSize;
  }

  /** Unsigned little-endian value of `width` bytes at `offset`. Internal: the bytes must lie in the bank. */
  abstract readValue(offset: number, width: 1 | 2 | 4): number;
  /** Stores the low `width` bytes of `value` (an integer in [0, 2^(8*width))). Internal: trusted arguments. */
  abstract writeValue(offset: number, width: 1 | 2 | 4, value: number): void;
  /** Unsigned little-endian 64-bit value at `offset`. Internal: the bytes must lie in the bank. */
  abstract readValue64(offset: number): bigint;
  /** Stores a 64-bit value (any bigint; its low 64 bits). Internal: trusted arguments. */
  abstract writeValue64(offset: number, value: bigint): void;
  /** Sets [offset, offset+length) to `byte`; zeroing a whole chunk gives it back. Internal: trusted arguments. */
  abstract fillRange(offset: number, length: number, byte: number): void;
  /** Copies [offset, offset+length) into `into` at `intoOffset`. Internal: trusted arguments. */
  abstract readRange(offset: number, into: Uint8Array, intoOffset: number, length: number): void;
  /** Copies `length` bytes of `from` (from `fromOffset`) to `offset`. Internal: trusted arguments. */
  abstract writeRange(offset: number, from: Uint8Array, fromOffset: number, length: number): void;
  /** memmove of `length` bytes from `source` to `destination`. Internal: trusted arguments. */
  abstract copyRange(destination: number, source: number, length: number): void;
  /**
   * The host view of the 4 KiB page at `offset` and the page's offset in it (in `slot`), as
   * `PhysicalMemory.directView` describes; null when the page runs past the bank's end or, for a read of a
   * never-written sparse chunk, when there is no memory to show. Internal: `offset` is an integer in the bank.
   */
  abstract pageView(offset: number, forWrite: boolean, slot: DirectViewSlot): DataView | null;
  /** Whether chunk `index` is counted as allocated. Internal: `index` is in range. */
  protected abstract chunkAllocated(index: number): boolean;

  /** Reads a byte at `offset`. @throws InvalidArgumentError if `offset` is not an integer in [0, size). */
  read8(offset: number): number {
    this.checkRange(offset, 1);
    return this.readValue(offset, 1);
  }

  /**
   * Writes a byte at `offset`.
   * @throws InvalidArgumentError if `offset` is outside [0, size) or `value` is not an integer in [-128, 255].
   */
  write8(offset: number, value: number): void {
    this.checkRange(offset, 1);
    checkInteger("value", value, -0x80, 0xff);
    this.writeValue(offset, 1, value & 0xff);
  }

  /** Copies `into.length` bytes from `offset`. @throws InvalidArgumentError if the range leaves the RAM. */
  read(offset: number, into: Uint8Array): void {
    this.checkRange(offset, into.length);
    this.readRange(offset, into, 0, into.length);
  }

  /** Copies all of `from` to `offset`. @throws InvalidArgumentError if the range leaves the RAM. */
  write(offset: number, from: Uint8Array): void {
    this.checkRange(offset, from.length);
    this.writeRange(offset, from, 0, from.length);
  }

  /**
   * Sets `length` bytes from `offset` to `byte`.
   * @throws InvalidArgumentError if the range leaves the RAM or `byte` is not an integer in [0, 255].
   */
  fill(offset: number, length: number, byte: number): void {
    this.checkRange(offset, length);
    checkInteger("byte", byte, 0, 0xff);
    this.fillRange(offset, length, byte);
  }

  /** memmove of `length` bytes. @throws InvalidArgumentError if either range leaves the RAM. */
  copy(destination: number, source: number, length: number): void {
    checkInteger("length", length, 0, this.size);
    this.checkRange(destination, length, "destination");
    this.checkRange(source, length, "source");
    this.copyRange(destination, source, length);
  }

  /** True when the chunk holding `offset` counts as allocated. @throws InvalidArgumentError outside [0, size). */
  isAllocated(offset: number): boolean {
    this.checkRange(offset, 1);
    return this.chunkAllocated(Math.floor(offset / this.chunkSize));
  }

  private checkRange(offset: number, length: number, argument = "offset"): void {
    checkInteger(argument, offset, 0, this.size);
    checkInteger("length", length, 0, this.size);
    if (offset + length > this.size || (length > 0 && offset === this.size)) {
      throw new InvalidArgumentError(
        argument,
        offset,
        `${length} byte(s) from here run past the RAM size ${this.size}`,
      );
    }
  }
}

/** True when every byte of `bytes` is zero (checked a word at a time where alignment allows). */
export function isAllZero(bytes: Uint8Array): boolean {
  const start = bytes.byteOffset;
  const head = Math.min(bytes.length, (4 - (start & 3)) & 3);
  for (let i = 0; i < head; i++) if (bytes[i] !== 0) return false;
  const words = (bytes.length - head) >>> 2;
  if (words > 0) {
    const view = new Uint32Array(bytes.buffer, start + head, words);
    for (let i = 0; i < words; i++) if (view[i] !== 0) return false;
  }
  for (let i = head + words * 4; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}
