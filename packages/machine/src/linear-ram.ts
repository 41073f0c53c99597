import { type DirectViewSlot, InvalidArgumentError } from "@ksim/core";
import type { RamArena, RamArenas, RamSlice } from "./ram-arena.js";
import { isAllZero, RamBank } from "./ram-bank.js";

/** Accounting grain: 64 KiB, as for {@link SparseRam}'s smallest chunks. */
const CHUNK_SHIFT = 16;
const CHUNK_SIZE = 0x1_0000;

/** Chunk states (bit 0: counted as allocated; bit 1: a view of it was also handed out for writing). */
export const CHUNK_CLEAN = 0;
export const CHUNK_WRITTEN = 1;
export const CHUNK_LENT = 3;

/**
 * RAM in one host buffer: byte i of {@link view} is RAM offset i, so an access is one `DataView` call at the offset
 * itself. The buffer is a slice of a large `ArrayBuffer` (see {@link RamArenas}) that the host OS commits page by
 * page on first write; never-written pages read zeros from the shared zero page and cost no memory.
 *
 * Accounting stays in 64 KiB chunks, like {@link SparseRam}: a chunk counts from its first write with something
 * other than zero (through the bus, or by a direct view handed out for writing) until it is zeroed whole. Zeroing
 * a chunk whole zeroes it in place: it counts as given back, although the host keeps its pages (JavaScript cannot
 * return them), and it reads zeros as before.
 *
 * The `view`, `bytes` and `state` fields are the fast path of {@link PhysicalBus}; treat them as read-only.
 */
export class LinearRam extends RamBank {
  readonly size: number;
  readonly chunkSize = CHUNK_SIZE;
  readonly chunkCount: number;
  /** The whole bank: byte i is offset i. It never changes over the bank's life. */
  readonly view: DataView;
  /** The same memory as {@link view}. */
  readonly bytes: Uint8Array;
  /** One state per chunk: {@link CHUNK_CLEAN} (reads zeros, not counted), `CHUNK_WRITTEN` or `CHUNK_LENT`. */
  readonly state: Uint8Array;
  /**
   * Called after a chunk that was handed out for writing ({@link lend}) is given back, so that holders of writable
   * views ask again (with `forWrite`) and the chunk is counted when they write it. Internal: set by the bus.
   */
  onRelease: (() => void) | null = null;
  /** Chunks written since the bank was made: their host pages may be committed (counts toward the arena's budget). */
  readonly #touched: Uint8Array;
  readonly #arena: RamArena;
  #allocated = 0;

  /**
   * A bank over `slice`, which must be zero and used by nothing else (as {@link RamArenas.take} hands them out).
   * @throws InvalidArgumentError if the slice is not 64 KiB-aligned, is empty or longer than 4 GiB, or runs past
   *   its arena's buffer.
   */
  constructor(slice: RamSlice) {
    super();
    const { arena, offset, size } = slice;
    const fits =
      Number.isInteger(offset) &&
      Number.isInteger(size) &&
      offset >= 0 &&
      offset % CHUNK_SIZE === 0 &&
      size >= 1 &&
      size <= 2 ** 32 &&
      arena.buffer instanceof ArrayBuffer &&
      offset + size <= arena.buffer.byteLength;
    if (!fits) {
      throw new InvalidArgumentError(
        "slice",
        { offset, size },
        "must be 1 B-4 GiB at a 64 KiB-aligned offset inside its arena's buffer",
      );
    }
    this.size = slice.size;
    this.chunkCount = Math.ceil(slice.size / CHUNK_SIZE);
    this.view = new DataView(slice.arena.buffer, slice.offset, slice.size);
    this.bytes = new Uint8Array(slice.arena.buffer, slice.offset, slice.size);
    this.state = new Uint8Array(this.chunkCount);
    this.#touched = new Uint8Array(this.chunkCount);
    this.#arena = slice.arena;
  }

  /** A bank of `size` bytes from `arenas`, or null when the host refuses the memory. */
  static create(size: number, arenas: RamArenas): LinearRam | null {
    const slice = arenas.take(size);
    return slice === null ? null : new LinearRam(slice);
  }

  override get allocatedChunks(): number {
    return this.#allocated;
  }

  /** Counts chunks `first..last` as written. Internal. */
  markWritten(first: number, last: number): void {
    const { state } = this;
    for (let i = first; i <= last; i++) {
      if (state[i] !== CHUNK_CLEAN) continue;
      state[i] = CHUNK_WRITTEN;
      this.#allocated++;
      if (this.#touched[i] === 0) {
        this.#touched[i] = 1;
        this.#arena.touchedChunks++;
      }
    }
  }

  /** Counts chunk `index` as written and as handed out for writing through a direct view. Internal. */
  lend(index: number): void {
    this.markWritten(index, index);
    this.state[index] = CHUNK_LENT;
  }

  /** Zeroes a whole chunk in place and stops counting it. */
  private release(index: number): void {
    const before = this.state[index]!;
    if (before === CHUNK_CLEAN) return;
    this.bytes.fill(0, index * CHUNK_SIZE, Math.min(this.size, (index + 1) * CHUNK_SIZE));
    this.state[index] = CHUNK_CLEAN;
    this.#allocated--;
    if (before === CHUNK_LENT) this.onRelease?.();
  }

  /** True when every chunk overlapping [offset, offset+length) is clean (reads zeros). */
  private allClean(offset: number, length: number): boolean {
    const last = (offset + length - 1) >>> CHUNK_SHIFT;
    for (let i = offset >>> CHUNK_SHIFT; i <= last; i++) if (this.state[i] !== CHUNK_CLEAN) return false;
    return true;
  }

  /** True when no chunk overlapping [offset, offset+length) is clean. */
  private allCounted(offset: number, length: number): boolean {
    const last = (offset + length - 1) >>> CHUNK_SHIFT;
    for (let i = offset >>> CHUNK_SHIFT; i <= last; i++) if (this.state[i] === CHUNK_CLEAN) return false;
    return true;
  }

  override readValue(offset: number, width: 1 | 2 | 4): number {
    const { view } = this;
    return width === 4
      ? view.getUint32(offset, true)
      : width === 2
        ? view.getUint16(offset, true)
        : view.getUint8(offset);
  }

  override readValue64(offset: number): bigint {
    return this.view.getBigUint64(offset, true);
  }

  /** Also the bus's path for a write that starts in a clean chunk or straddles two chunks. */
  override writeValue(offset: number, width: 1 | 2 | 4, value: number): void {
    if (!this.allCounted(offset, width)) {
      if (value === 0 && this.allClean(offset, width)) return; // zero into zeros: nothing to count
      this.markWritten(offset >>> CHUNK_SHIFT, (offset + width - 1) >>> CHUNK_SHIFT);
    }
    const { view } = this;
    if (width === 4) view.setUint32(offset, value, true);
    else if (width === 2) view.setUint16(offset, value, true);
    else view.setUint8(offset, value);
  }

  override writeValue64(offset: number, value: bigint): void {
    if (!this.allCounted(offset, 8)) {
      if (BigInt.asUintN(64, value) === 0n && this.allClean(offset, 8)) return;
      this.markWritten(offset >>> CHUNK_SHIFT, (offset + 7) >>> CHUNK_SHIFT);
    }
    this.view.setBigUint64(offset, value, true);
  }

  override fillRange(offset: number, length: number, byte: number): void {
    if (length === 0) return;
    if (byte !== 0) {
      this.markWritten(offset >>> CHUNK_SHIFT, (offset + length - 1) >>> CHUNK_SHIFT);
      this.bytes.fill(byte, offset, offset + length);
      return;
    }
    // Zeros: skip clean chunks (their pages stay uncommitted), zero whole chunks as releases, parts in place.
    const end = offset + length;
    let at = offset;
    while (at < end) {
      const index = at >>> CHUNK_SHIFT;
      const chunkEnd = Math.min(this.size, (index + 1) * CHUNK_SIZE);
      const pieceEnd = Math.min(end, chunkEnd);
      if (this.state[index] !== CHUNK_CLEAN) {
        if (at === index * CHUNK_SIZE && pieceEnd === chunkEnd) this.release(index);
        else this.bytes.fill(0, at, pieceEnd);
      }
      at = pieceEnd;
    }
  }

  override readRange(offset: number, into: Uint8Array, intoOffset: number, length: number): void {
    into.set(this.bytes.subarray(offset, offset + length), intoOffset);
  }

  override writeRange(offset: number, from: Uint8Array, fromOffset: number, length: number): void {
    if (length === 0) return;
    if (this.allCounted(offset, length)) {
      this.bytes.set(from.subarray(fromOffset, fromOffset + length), offset);
      return;
    }
    // Some chunk is clean: zeros written into a clean chunk change nothing and must not count it.
    const end = offset + length;
    let at = offset;
    while (at < end) {
      const index = at >>> CHUNK_SHIFT;
      const pieceEnd = Math.min(end, (index + 1) * CHUNK_SIZE);
      const piece = from.subarray(fromOffset + (at - offset), fromOffset + (pieceEnd - offset));
      if (this.state[index] !== CHUNK_CLEAN || !isAllZero(piece)) {
        this.markWritten(index, index);
        this.bytes.set(piece, at);
      }
      at = pieceEnd;
    }
  }

  override copyRange(destination: number, source: number, length: number): void {
    if (length === 0 || destination === source) return;
    if (this.allClean(source, length)) {
      // The source reads zeros: zero the destination's written parts (no chunk is released by a copy).
      const end = destination + length;
      let at = destination;
      while (at < end) {
        const index = at >>> CHUNK_SHIFT;
        const pieceEnd = Math.min(end, (index + 1) * CHUNK_SIZE);
        if (this.state[index] !== CHUNK_CLEAN) this.bytes.fill(0, at, pieceEnd);
        at = pieceEnd;
      }
      return;
    }
    this.markWritten(destination >>> CHUNK_SHIFT, (destination + length - 1) >>> CHUNK_SHIFT);
    this.bytes.copyWithin(destination, source, source + length); // memmove semantics
  }

  override pageView(offset: number, forWrite: boolean, slot: DirectViewSlot): DataView | null {
    const page = offset - (offset & 0xfff);
    if (page + 0x1000 > this.size) return null;
    if (forWrite && this.state[page >>> CHUNK_SHIFT] !== CHUNK_LENT) this.lend(page >>> CHUNK_SHIFT);
    slot.offset = page;
    return this.view;
  }

  protected override chunkAllocated(index: number): boolean {
    return this.state[index] !== CHUNK_CLEAN;
  }
}
