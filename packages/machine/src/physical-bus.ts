import {
  BusError,
  checkInteger,
  checkPhysAddr,
  type DirectViewSlot,
  InvalidArgumentError,
  type MemoryBacking,
  PHYS_ADDRESS_LIMIT,
  type PhysAddr,
  type PhysicalMemory,
} from "@ksim/core";
import type { AddressMap, Region } from "./address-map.js";
import { HIGH_RAM_BASE } from "./layout.js";
import { CHUNK_CLEAN, CHUNK_LENT, LinearRam } from "./linear-ram.js";
import { type RamArenas, sharedRamArenas } from "./ram-arena.js";
import type { RamBank } from "./ram-bank.js";
import { SparseRam } from "./sparse-ram.js";

/** Stand-ins for the fast-path fields when low RAM is chunked (its limits are then 0, so they are never read). */
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));
const EMPTY_STATE = new Uint8Array(0);

const RAM_BACKING: MemoryBacking = Object.freeze({ kind: "ram" });
const NO_BACKING: MemoryBacking = Object.freeze({ kind: "none" });

// What answers at an address, as found by `locate` (numbers, so the cursor is a reused object).
const RAM = 0;
const DEVICE_RAM = 1;
const REGISTERS = 2;
const HOLE = 3;

/** All ones of each access width, for reads that hit nothing. */
const ALL_ONES = [0, 0xff, 0xffff, 0, 0xffff_ffff] as const;
const ALL_ONES_64 = 0xffff_ffff_ffff_ffffn;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
/** Largest piece a general copy stages at once. */
const COPY_BLOCK = 0x1_0000;

/** A reused description of the stretch of address space starting at one address. */
interface Cursor {
  kind: number;
  /** The RAM bank (low or high) for RAM. */
  ram: RamBank | null;
  /** Offset into the RAM bank or into the region. */
  offset: number;
  /** Bytes from the address to the end of this stretch. */
  span: number;
  region: Region | null;
}

/** Counters of accesses that hit nothing. */
export interface UnbackedCounters {
  unbackedReads: number;
  unbackedWrites: number;
  /** The first address of the latest unbacked access, or -1. */
  lastUnbackedAddress: number;
}

/**
 * The physical address space of a machine as one `PhysicalMemory`: RAM (low RAM below the PCI hole, the rest
 * above 4 GiB), device regions from the {@link AddressMap}, and holes that read all ones and drop writes (or throw
 * `BusError` when `strict`).
 *
 * Low RAM lives in one host buffer ({@link LinearRam}) when the host grants it, else in 64 KiB chunks
 * ({@link SparseRam}); high RAM always lives in chunks. Hot path: an access that lies in one-buffer low RAM costs a
 * range check and a DataView access at the address itself (a write also checks that its chunk is already
 * counted). Everything else (chunked RAM, regions, holes, accesses crossing a boundary, bad arguments) takes the
 * general path, which validates and splits accesses that straddle a boundary into single bytes, low byte first.
 * Register regions get one access of the full width when it fits in the region (8 bytes: `read64`/`write64`, or
 * two 4-byte accesses, low half first).
 */
export class PhysicalBus implements PhysicalMemory {
  // Fields are `declare`d and set in the constructor: emitted class fields would first be defined as undefined,
  // which widens their representation and measurably slows the hot path (about 15% on random reads).

  // Fast-path copies of the RAM geometry, set first.
  /** One-buffer low RAM's view (byte i = physical i); an empty view when low RAM is chunked. */
  declare private readonly lowView: DataView;
  /** One-buffer low RAM's chunk states (non-zero: counted, so a write needs no accounting); empty when chunked. */
  declare private readonly lowState: Uint8Array;
  /**
   * `lowEnd - (width - 1)` for one-buffer low RAM, else 0: an access of that width starting below it lies in
   * low RAM, and with 0 every low-RAM access takes the general path (chunked low RAM).
   */
  declare private readonly lowLimit1: number;
  declare private readonly lowLimit2: number;
  declare private readonly lowLimit4: number;
  declare private readonly lowLimit8: number;
  declare private readonly lowLinear: LinearRam | null;
  declare private readonly lowEnd: number;
  /** Chunked low RAM's views, zero chunk and end (an empty table and 0 in one-buffer mode), for the general path. */
  declare private readonly chunkedLowViews: DataView[];
  declare private readonly chunkedLowZero: DataView;
  declare private readonly chunkedLowEnd: number;
  declare private readonly highViews: DataView[];
  declare private readonly highMask: number;
  declare private readonly highShift: number;
  /** min(highSize, 2^32) - 3: a 4-byte access at a high offset below it ends in high RAM, and the offset is a uint32. */
  declare private readonly highLimit4: number;
  /** 1 / chunk size of high RAM (exact: a power of two), to index by multiplication. */
  declare private readonly highInverse: number;
  /** Bytes of high RAM (0 when there is none). */
  declare private readonly highSize: number;
  declare private readonly highEnd: number;
  declare private readonly cursor: Cursor;
  /** Subscribers to {@link onTopologyChange}. */
  declare private readonly topologyListeners: (() => void)[];

  /** RAM below the PCI hole: [0, lowRamEnd), in one host buffer or (when the host refuses one) in chunks. */
  declare readonly lowRam: LinearRam | SparseRam;
  /** RAM from 4 GiB, or null on machines whose RAM fits below the hole. */
  declare readonly highRam: SparseRam | null;
  declare readonly map: AddressMap;
  /** When true, an access that hits nothing throws `BusError` before anything is read or written. */
  declare readonly strict: boolean;
  declare readonly counters: UnbackedCounters;
  /**
   * One-buffer low RAM's view: byte i is physical address i, for all of low RAM. `directView` returns this very
   * object for every low-RAM page (also for never-written ones, which read zeros). Undefined when low RAM is chunked.
   */
  declare readonly linearView: DataView | undefined;

  /**
   * @param map the address map; its layout says how much RAM sits below the hole and above 4 GiB.
   * @param strict whether unbacked accesses throw `BusError`.
   * @param arenas where one-buffer low RAM comes from; null keeps low RAM in 64 KiB chunks, as does a host that
   *   refuses the buffer.
   */
  constructor(map: AddressMap, strict = false, arenas: RamArenas | null = sharedRamArenas) {
    const { layout } = map;
    const lowEnd = layout.lowRamEnd;
    const linear = arenas === null ? null : LinearRam.create(lowEnd, arenas);
    const lowRam = linear ?? new SparseRam(lowEnd);
    const highRam = layout.highRamEnd > HIGH_RAM_BASE ? new SparseRam(layout.highRamEnd - HIGH_RAM_BASE) : null;
    this.lowView = linear?.view ?? EMPTY_VIEW;
    this.lowState = linear?.state ?? EMPTY_STATE;
    this.lowLimit1 = linear === null ? 0 : lowEnd;
    this.lowLimit2 = linear === null ? 0 : lowEnd - 1;
    this.lowLimit4 = linear === null ? 0 : lowEnd - 3;
    this.lowLimit8 = linear === null ? 0 : lowEnd - 7;
    this.lowLinear = linear;
    this.lowEnd = lowEnd;
    this.chunkedLowViews = linear === null ? (lowRam as SparseRam).views : [];
    this.chunkedLowZero = linear === null ? (lowRam as SparseRam).zeroView : EMPTY_VIEW;
    this.chunkedLowEnd = linear === null ? lowEnd : 0;
    this.highViews = highRam?.views ?? [];
    this.highMask = highRam?.chunkMask ?? 0;
    this.highShift = highRam?.chunkShift ?? 0;
    this.highLimit4 = Math.min(layout.highRamEnd - HIGH_RAM_BASE, 2 ** 32) - 3;
    this.highInverse = 1 / (highRam?.chunkSize ?? 1);
    this.highSize = layout.highRamEnd - HIGH_RAM_BASE;
    this.highEnd = layout.highRamEnd;
    this.cursor = { kind: HOLE, ram: null, offset: 0, span: 0, region: null };
    this.lowRam = lowRam;
    this.highRam = highRam;
    this.map = map;
    this.strict = strict;
    this.counters = { unbackedReads: 0, unbackedWrites: 0, lastUnbackedAddress: -1 };
    this.topologyListeners = [];
    const notify = () => this.notifyTopologyChange();
    map.onChange = notify;
    lowRam.onRelease = notify;
    if (highRam !== null) highRam.onRelease = notify;
    // Set (to undefined when chunked) either way, so that buses of both kinds share one V8 hidden class and the
    // hot paths stay monomorphic in a process that has both.
    this.linearView = linear?.view;
  }

  // ---- direct views (the optional fast-path capability of PhysicalMemory) ----

  /**
   * A view of the 4 KiB page holding `address` when it is RAM or lies wholly inside a RAM-like device region (see
   * `DirectMemoryAccess.directView` in `@ksim/core`), with the page's offset in it written to `slot.offset`:
   * - one-buffer low RAM: always {@link linearView}, with `slot.offset` = the page's address, also for pages never
   *   written (they read zeros). `forWrite` counts the page's 64 KiB chunk as allocated: ask with it before
   *   writing through the view, and write only through views asked for so (the accounting relies on it).
   * - chunked RAM: the chunk's view (chunks hold whole pages); null for a read of a never-written chunk (there is
   *   no memory to show, and the shared zero chunk must never be written); `forWrite` allocates the chunk.
   * - RAM-like device regions: the region's view.
   * Null for register regions, holes and a page that straddles a region edge. Views stay valid until the next
   * {@link onTopologyChange} notification. `address` must be a valid physical address (unchecked: a hot path).
   */
  directView(address: PhysAddr, forWrite: boolean, slot: DirectViewSlot): DataView | null {
    const a = address >>> 0;
    if (a === address && a < this.lowLimit1) {
      if ((a | 0xfff) >= this.lowEnd) return null; // the page runs past low RAM (not on page-aligned layouts)
      if (forWrite && this.lowState[a >>> 16] !== CHUNK_LENT) this.lowLinear!.lend(a >>> 16);
      slot.offset = a - (a & 0xfff);
      return this.lowView;
    }
    if (address < this.lowEnd) return this.lowRam.pageView(address, forWrite, slot);
    const offset = address - HIGH_RAM_BASE;
    if (offset >= 0 && offset < this.highSize) return this.highRam!.pageView(offset, forWrite, slot);
    const region = this.map.find(address);
    if (region === undefined || region.view === null) return null;
    const page = address - (address % 0x1000);
    if (page < region.base || page + 0x1000 > region.end) return null;
    slot.offset = page - region.base;
    return region.view;
  }

  /**
   * Calls `listener` after every change that may make a direct view stale: a device region added, moved or
   * removed, or RAM given back by zeroing a whole chunk with `fill`. For one-buffer low RAM only chunks handed out
   * by `directView(..., forWrite = true)` notify: their views stay valid (the buffer never changes), but a holder
   * that drops its views asks again with `forWrite` before its next write, which keeps the accounting exact.
   * Returns the unsubscribe function.
   * @throws InvalidArgumentError if `listener` is not a function.
   */
  onTopologyChange(listener: () => void): () => void {
    if (typeof listener !== "function") throw new InvalidArgumentError("listener", listener, "must be a function");
    const listeners = this.topologyListeners;
    listeners.push(listener);
    return () => {
      const at = listeners.indexOf(listener);
      if (at >= 0) listeners.splice(at, 1);
    };
  }

  private notifyTopologyChange(): void {
    // A copy: a listener may unsubscribe while being called.
    for (const listener of this.topologyListeners.slice()) listener();
  }

  // ---- single accesses: fast path inline, the rest in `readSlow`/`writeSlow` ----

  /** Reads a byte. @throws InvalidArgumentError for a bad address; BusError when strict and unbacked. */
  read8(address: PhysAddr): number {
    // `a` is the address as a uint32: equal to it only for integers in [0, 2^32), and cheaper to index with.
    const a = address >>> 0;
    if (a === address && a < this.lowLimit1) return this.lowView.getUint8(a);
    return this.readSlow(address, 1) | 0;
  }

  /** Reads a little-endian 16-bit value. Errors as {@link read8}. */
  read16(address: PhysAddr): number {
    const a = address >>> 0;
    if (a === address && a < this.lowLimit2) return this.lowView.getUint16(a, true);
    return this.readSlow(address, 2) | 0;
  }

  /** Reads an unsigned little-endian 32-bit value. Errors as {@link read8}. */
  read32(address: PhysAddr): number {
    const a = address >>> 0;
    if (a === address && a < this.lowLimit4) return this.lowView.getUint32(a, true);
    return this.read32High(address);
  }

  /** Reads an unsigned little-endian 64-bit value. Errors as {@link read8}. */
  read64(address: PhysAddr): bigint {
    const a = address >>> 0;
    if (a === address && a < this.lowLimit8) return this.lowView.getBigUint64(a, true);
    return this.read64Slow(address);
  }

  /**
   * Writes a byte. `value` is an integer in [-128, 255] (negative values are stored as their two's complement).
   * @throws InvalidArgumentError for a bad address or value, changing nothing; BusError when strict and unbacked.
   */
  write8(address: PhysAddr, value: number): void {
    const a = address >>> 0;
    if (a === address && a < this.lowLimit1 && (value & 0xff) === value) {
      // A chunk already counted takes the store directly; the first write to a chunk is counted first.
      if (this.lowState[a >>> 16] !== CHUNK_CLEAN) this.lowView.setUint8(a, value);
      else this.lowLinear!.writeValue(a, 1, value);
      return;
    }
    this.writeSlow(address, 1, value);
  }

  /** Writes a little-endian 16-bit value in [-2^15, 2^16). Errors as {@link write8}. */
  write16(address: PhysAddr, value: number): void {
    const a = address >>> 0;
    if (a === address && a < this.lowLimit2 && (value & 0xffff) === value) {
      // A write that ends in the next chunk also takes the counting path, which counts both chunks.
      if (this.lowState[a >>> 16] !== CHUNK_CLEAN && (a & 0xffff) < 0xffff) this.lowView.setUint16(a, value, true);
      else this.lowLinear!.writeValue(a, 2, value);
      return;
    }
    this.writeSlow(address, 2, value);
  }

  /**
   * Writes a little-endian 32-bit value in [-2^31, 2^32): results of JavaScript's bitwise operators can be stored
   * as they are. Errors as {@link write8}.
   */
  write32(address: PhysAddr, value: number): void {
    const a = address >>> 0;
    if (a === address && a < this.lowLimit4 && (value >>> 0 === value || (value | 0) === value)) {
      if (this.lowState[a >>> 16] !== CHUNK_CLEAN && (a & 0xffff) <= 0xfffc) this.lowView.setUint32(a, value, true);
      else this.lowLinear!.writeValue(a, 4, value >>> 0);
      return;
    }
    this.writeSlow(address, 4, value);
  }

  /** Writes a little-endian 64-bit value in [-2^63, 2^64). Errors as {@link write8}. */
  write64(address: PhysAddr, value: bigint): void {
    if (typeof value !== "bigint" || value < INT64_MIN || value > UINT64_MAX) {
      checkPhysAddr("address", address);
      throw new InvalidArgumentError("value", value, "not a 64-bit integer (a bigint in [-2^63, 2^64))");
    }
    const a = address >>> 0;
    if (a === address && a < this.lowLimit8) {
      if (this.lowState[a >>> 16] !== CHUNK_CLEAN && (a & 0xffff) <= 0xfff8) this.lowView.setBigUint64(a, value, true);
      else this.lowLinear!.writeValue64(a, value);
      return;
    }
    this.write64Slow(address, value);
  }

  /**
   * A 32-bit read in chunked low RAM (the fallback) or in high RAM inside one chunk (kept small so it inlines),
   * else the general path.
   */
  private read32High(address: PhysAddr): number {
    const a = address >>> 0;
    if (a === address && a < this.chunkedLowEnd - 3) return this.readChunkedLow(a, 4);
    const offset = address - HIGH_RAM_BASE;
    // The first 4 GiB above 4 GiB: the offset fits a uint32, which indexes as cheaply as low RAM does.
    const o = offset >>> 0;
    if (o === offset && o < this.highLimit4) {
      const inChunk = o & this.highMask;
      if (inChunk <= this.highMask - 3) return this.highViews[o >>> this.highShift]!.getUint32(inChunk, true);
    } else if (offset >= 0 && offset <= this.highSize - 4 && Math.floor(offset) === offset) {
      const inChunk = offset & this.highMask;
      if (inChunk <= this.highMask - 3)
        return this.highViews[Math.floor(offset * this.highInverse)]!.getUint32(inChunk, true);
    }
    return this.readOther(address, 4) >>> 0;
  }

  /** Chunked low RAM inside one chunk, else validation and the general path. */
  private readOther(address: PhysAddr, width: 1 | 2 | 4): number {
    const a = address >>> 0;
    if (a === address && a < this.chunkedLowEnd - (width - 1)) return this.readChunkedLow(a, width);
    this.checkAccess(address, width);
    return this.readGeneral(address, width);
  }

  /** A read of chunked low RAM (the fallback): inside one chunk directly, else through the bank. */
  private readChunkedLow(a: number, width: 1 | 2 | 4): number {
    const inChunk = a & 0xffff;
    if (inChunk > 0xffff - (width - 1)) return this.lowRam.readValue(a, width); // straddles two chunks
    const view = this.chunkedLowViews[a >>> 16]!;
    return width === 4
      ? view.getUint32(inChunk, true)
      : width === 2
        ? view.getUint16(inChunk, true)
        : view.getUint8(inChunk);
  }

  /** High RAM inside one chunk, else validation and the general path. */
  private readSlow(address: PhysAddr, width: 1 | 2 | 4): number {
    // High RAM: `offset & highMask` keeps the low bits exactly for any integer below 2^53.
    const offset = address - HIGH_RAM_BASE;
    if (offset >= 0 && offset <= this.highSize - width && Math.floor(offset) === offset) {
      const inChunk = offset & this.highMask;
      if (inChunk <= this.highMask - (width - 1)) {
        const view = this.highViews[Math.floor(offset * this.highInverse)]!;
        return width === 4
          ? view.getUint32(inChunk, true)
          : width === 2
            ? view.getUint16(inChunk, true)
            : view.getUint8(inChunk);
      }
    }
    return this.readOther(address, width);
  }

  private read64Slow(address: PhysAddr): bigint {
    const offset = address - HIGH_RAM_BASE;
    if (offset >= 0 && offset <= this.highSize - 8 && Math.floor(offset) === offset) {
      const inChunk = offset & this.highMask;
      if (inChunk <= this.highMask - 7) {
        return this.highViews[Math.floor(offset * this.highInverse)]!.getBigUint64(inChunk, true);
      }
    }
    const a = address >>> 0;
    if (a === address && a < this.chunkedLowEnd - 7 && (a & 0xffff) <= 0xfff8) {
      return this.chunkedLowViews[a >>> 16]!.getBigUint64(a & 0xffff, true);
    }
    this.checkAccess(address, 8);
    const c = this.locate(address);
    if (c.span >= 8) {
      if (c.kind === RAM) {
        return c.ram!.readValue64(c.offset);
      } else if (c.kind === DEVICE_RAM) {
        return c.region!.view!.getBigUint64(c.offset, true);
      } else if (c.kind === REGISTERS) {
        // Locals, not the cursor: a handler may itself access memory (a device starting DMA) and move the cursor.
        const handler = c.region!.handler!;
        const offset = c.offset;
        if (handler.read64) return BigInt.asUintN(64, handler.read64(offset));
        const low = handler.read(offset, 4) >>> 0;
        const high = handler.read(offset + 4, 4) >>> 0;
        return (BigInt(high) << 32n) | BigInt(low);
      } else {
        this.unbacked(address, 8, false);
        return ALL_ONES_64;
      }
    }
    // Straddles a boundary: byte by byte, as separate bus cycles.
    this.requireBacked(address, 8, false);
    const low = this.readBytes(address, 4);
    const high = this.readBytes(address + 4, 4);
    return (BigInt(high) << 32n) | BigInt(low);
  }

  private writeSlow(address: PhysAddr, width: 1 | 2 | 4, value: number): void {
    const v = checkValue(address, width, value);
    const a = address >>> 0;
    if (a === address && a < this.chunkedLowEnd - (width - 1)) this.writeChunkedLow(a, width, v);
    else this.writeOther(address, width, v);
  }

  /** A write to chunked low RAM (the fallback): inside one chunk directly, else through the bank. */
  private writeChunkedLow(a: number, width: 1 | 2 | 4, v: number): void {
    const inChunk = a & 0xffff;
    const index = a >>> 16;
    const view = this.chunkedLowViews[index]!;
    if (inChunk > 0xffff - (width - 1) || view === this.chunkedLowZero) {
      this.lowRam.writeValue(a, width, v); // straddles two chunks, or allocates one
      return;
    }
    if (width === 4) view.setUint32(inChunk, v, true);
    else if (width === 2) view.setUint16(inChunk, v, true);
    else view.setUint8(inChunk, v);
  }

  /** High RAM inside one chunk, else validation and the general path. */
  private writeOther(address: PhysAddr, width: 1 | 2 | 4, v: number): void {
    const offset = address - HIGH_RAM_BASE;
    if (offset >= 0 && offset <= this.highSize - width && Math.floor(offset) === offset) {
      const inChunk = offset & this.highMask;
      if (inChunk <= this.highMask - (width - 1)) {
        const index = Math.floor(offset * this.highInverse);
        if (v === 0 && this.highViews[index] === this.highRam!.zeroView) return; // zero into a zero chunk
        const view = this.highRam!.writableView(index);
        if (width === 4) view.setUint32(inChunk, v, true);
        else if (width === 2) view.setUint16(inChunk, v, true);
        else view.setUint8(inChunk, v);
        return;
      }
    }
    this.checkAccess(address, width);
    this.writeGeneral(address, width, v);
  }

  private write64Slow(address: PhysAddr, value: bigint): void {
    this.checkAccess(address, 8);
    const c = this.locate(address);
    if (c.span >= 8) {
      if (c.kind === RAM) {
        c.ram!.writeValue64(c.offset, value);
        return;
      } else if (c.kind === DEVICE_RAM) {
        c.region!.view!.setBigUint64(c.offset, value, true);
        return;
      } else if (c.kind === REGISTERS) {
        const handler = c.region!.handler!;
        const offset = c.offset;
        const unsigned = BigInt.asUintN(64, value);
        if (handler.write64) handler.write64(offset, unsigned);
        else {
          handler.write(offset, 4, Number(unsigned & 0xffff_ffffn));
          handler.write(offset + 4, 4, Number(unsigned >> 32n));
        }
        return;
      } else {
        this.unbacked(address, 8, true);
        return;
      }
    }
    this.requireBacked(address, 8, true);
    const unsigned = BigInt.asUintN(64, value);
    this.writeBytes(address, 4, Number(unsigned & 0xffff_ffffn));
    this.writeBytes(address + 4, 4, Number(unsigned >> 32n));
  }

  /** A validated access of 1, 2 or 4 bytes anywhere. */
  private readGeneral(address: PhysAddr, width: 1 | 2 | 4): number {
    const c = this.locate(address);
    if (c.span >= width) {
      if (c.kind === RAM) {
        return c.ram!.readValue(c.offset, width); // a bank splits an access that crosses its chunks itself
      } else if (c.kind === DEVICE_RAM) {
        const view = c.region!.view!;
        return width === 4
          ? view.getUint32(c.offset, true)
          : width === 2
            ? view.getUint16(c.offset, true)
            : view.getUint8(c.offset);
      } else if (c.kind === REGISTERS) {
        return toWidth(c.region!.handler!.read(c.offset, width), width);
      } else {
        this.unbacked(address, width, false);
        return ALL_ONES[width];
      }
    }
    this.requireBacked(address, width, false);
    return this.readBytes(address, width);
  }

  private writeGeneral(address: PhysAddr, width: 1 | 2 | 4, value: number): void {
    const c = this.locate(address);
    if (c.span >= width) {
      if (c.kind === RAM) {
        c.ram!.writeValue(c.offset, width, value);
        return;
      } else if (c.kind === DEVICE_RAM) {
        const view = c.region!.view!;
        if (width === 4) view.setUint32(c.offset, value, true);
        else if (width === 2) view.setUint16(c.offset, value, true);
        else view.setUint8(c.offset, value);
        return;
      } else if (c.kind === REGISTERS) {
        c.region!.handler!.write(c.offset, width, value);
        return;
      } else {
        this.unbacked(address, width, true);
        return;
      }
    }
    this.requireBacked(address, width, true);
    this.writeBytes(address, width, value);
  }

  /** Little-endian value of `count` (<= 4) single-byte reads, lowest address first. */
  private readBytes(address: PhysAddr, count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) value += this.readGeneral(address + i, 1) * 2 ** (8 * i);
    return value;
  }

  private writeBytes(address: PhysAddr, count: number, value: number): void {
    for (let i = 0; i < count; i++) this.writeGeneral(address + i, 1, Math.floor(value / 2 ** (8 * i)) & 0xff);
  }

  // ---- bulk operations: segment by segment, each at typed-array speed where memory-like ----

  /**
   * memset: sets `length` bytes from `address` to `byte`. Zeroing whole never-written RAM chunks allocates nothing
   * (and zeroing a whole written chunk gives its memory back). Register regions get single-byte writes.
   * @throws InvalidArgumentError, changing nothing, for bad arguments; BusError (strict) if any byte is unbacked.
   */
  fill(address: PhysAddr, length: number, byte: number): void {
    this.checkRange(address, length, "address");
    checkInteger("byte", byte, 0, 0xff);
    if (this.strict) this.requireBacked(address, length, true);
    let at = address;
    let remaining = length;
    while (remaining > 0) {
      const c = this.locate(at);
      const n = Math.min(remaining, c.span);
      if (c.kind === RAM) c.ram!.fillRange(c.offset, n, byte);
      else if (c.kind === DEVICE_RAM) c.region!.bytes!.fill(byte, c.offset, c.offset + n);
      else if (c.kind === REGISTERS) {
        const { handler } = c.region!;
        const offset = c.offset; // the handler may move the cursor
        for (let i = 0; i < n; i++) handler!.write(offset + i, 1, byte);
      } else this.unbacked(at, n, true);
      at += n;
      remaining -= n;
    }
  }

  /**
   * Reads `into.length` bytes from `address` into `into`.
   * @throws InvalidArgumentError for bad arguments; BusError (strict) if any byte is unbacked, before any read.
   */
  read(address: PhysAddr, into: Uint8Array): void {
    if (!(into instanceof Uint8Array)) throw new InvalidArgumentError("into", into, "must be a Uint8Array");
    this.checkRange(address, into.length, "address");
    if (this.strict) this.requireBacked(address, into.length, false);
    this.readSpan(address, into, 0, into.length);
  }

  /**
   * Writes all of `from` at `address`.
   * @throws InvalidArgumentError, changing nothing, for bad arguments; BusError (strict) if any byte is unbacked.
   */
  write(address: PhysAddr, from: Uint8Array): void {
    if (!(from instanceof Uint8Array)) throw new InvalidArgumentError("from", from, "must be a Uint8Array");
    this.checkRange(address, from.length, "address");
    if (this.strict) this.requireBacked(address, from.length, true);
    this.writeSpan(address, from, 0, from.length);
  }

  /**
   * memmove: copies `length` bytes from `source` to `destination`; overlapping ranges copy as if through a buffer.
   * RAM to RAM and RAM to/from device memory run as typed-array copies.
   * @throws InvalidArgumentError, changing nothing, for bad arguments; BusError (strict) if any byte is unbacked.
   */
  copy(destination: PhysAddr, source: PhysAddr, length: number): void {
    this.checkRange(destination, length, "destination");
    this.checkRange(source, length, "source");
    if (this.strict) {
      this.requireBacked(source, length, false);
      this.requireBacked(destination, length, true);
    }
    if (length === 0 || destination === source) return;
    if (this.copyDirect(destination, source, length)) return;
    const block = new Uint8Array(Math.min(length, COPY_BLOCK));
    const backward = destination > source && destination < source + length;
    for (let done = 0; done < length; done += block.length) {
      const n = Math.min(block.length, length - done);
      // Backward (overlap with destination above source): the last block first, so no source byte is overwritten
      // before it is read.
      const offset = backward ? length - done - n : done;
      const piece = n === block.length ? block : block.subarray(0, n);
      this.readSpan(source + offset, piece, 0, n);
      this.writeSpan(destination + offset, piece, 0, n);
    }
  }

  /** Copies when both ranges each lie in one memory-like stretch; returns false to use the general path. */
  private copyDirect(destination: PhysAddr, source: PhysAddr, length: number): boolean {
    const s = this.locate(source);
    if (s.span < length || (s.kind !== RAM && s.kind !== DEVICE_RAM)) return false;
    const sKind = s.kind;
    const sRam = s.ram;
    const sOffset = s.offset;
    const sRegion = s.region;
    const d = this.locate(destination);
    if (d.span < length || (d.kind !== RAM && d.kind !== DEVICE_RAM)) return false;
    if (sKind === RAM && d.kind === RAM) {
      if (sRam !== d.ram) return false; // low RAM to high RAM: staged through the general path
      sRam!.copyRange(d.offset, sOffset, length);
    } else if (sKind === RAM) sRam!.readRange(sOffset, d.region!.bytes!, d.offset, length);
    else if (d.kind === RAM) d.ram!.writeRange(d.offset, sRegion!.bytes!, sOffset, length);
    else {
      const from = sRegion!.bytes!;
      const to = d.region!.bytes!;
      // Same buffer (one region, or two regions over one ArrayBuffer): set() would allocate a clone; copyWithin
      // has memmove semantics directly when the views coincide.
      if (from === to) to.copyWithin(d.offset, sOffset, sOffset + length);
      else to.set(from.subarray(sOffset, sOffset + length), d.offset);
    }
    return true;
  }

  private readSpan(address: PhysAddr, into: Uint8Array, intoOffset: number, length: number): void {
    let at = address;
    let pos = intoOffset;
    const end = intoOffset + length;
    while (pos < end) {
      const c = this.locate(at);
      const n = Math.min(end - pos, c.span);
      if (c.kind === RAM) c.ram!.readRange(c.offset, into, pos, n);
      else if (c.kind === DEVICE_RAM) into.set(c.region!.bytes!.subarray(c.offset, c.offset + n), pos);
      else if (c.kind === REGISTERS) {
        const { handler } = c.region!;
        const offset = c.offset; // the handler may move the cursor
        for (let i = 0; i < n; i++) into[pos + i] = handler!.read(offset + i, 1) & 0xff;
      } else {
        this.unbacked(at, n, false);
        into.fill(0xff, pos, pos + n);
      }
      at += n;
      pos += n;
    }
  }

  private writeSpan(address: PhysAddr, from: Uint8Array, fromOffset: number, length: number): void {
    let at = address;
    let pos = fromOffset;
    const end = fromOffset + length;
    while (pos < end) {
      const c = this.locate(at);
      const n = Math.min(end - pos, c.span);
      if (c.kind === RAM) c.ram!.writeRange(c.offset, from, pos, n);
      else if (c.kind === DEVICE_RAM) c.region!.bytes!.set(from.subarray(pos, pos + n), c.offset);
      else if (c.kind === REGISTERS) {
        const { handler } = c.region!;
        const offset = c.offset; // the handler may move the cursor
        for (let i = 0; i < n; i++) handler!.write(offset + i, 1, from[pos + i]!);
      } else this.unbacked(at, n, true);
      at += n;
      pos += n;
    }
  }

  /**
   * What backs `address`: RAM, a device region (with its name and place) or nothing.
   * @throws InvalidArgumentError if `address` is not a physical address.
   */
  backing(address: PhysAddr): MemoryBacking {
    checkPhysAddr("address", address);
    const c = this.locate(address);
    if (c.kind === RAM) return RAM_BACKING;
    if (c.kind === HOLE) return NO_BACKING;
    return c.region!.backing;
  }

  // ---- helpers ----

  /** Describes the stretch of address space from `address` in the reused cursor. `address` must be valid. */
  private locate(address: PhysAddr): Cursor {
    const c = this.cursor;
    c.region = null;
    c.ram = null;
    if (address < this.lowEnd) {
      c.kind = RAM;
      c.ram = this.lowRam;
      c.offset = address;
      c.span = this.lowEnd - address;
      return c;
    }
    if (address >= HIGH_RAM_BASE && address < this.highEnd) {
      c.kind = RAM;
      c.ram = this.highRam;
      c.offset = address - HIGH_RAM_BASE;
      c.span = this.highEnd - address;
      return c;
    }
    const region = this.map.find(address);
    if (region !== undefined) {
      c.kind = region.kind === "ram" ? DEVICE_RAM : REGISTERS;
      c.offset = address - region.base;
      c.span = region.end - address;
      c.region = region;
      return c;
    }
    let end = this.map.nextRegionBase(address);
    if (address < HIGH_RAM_BASE && this.highEnd > HIGH_RAM_BASE) end = Math.min(end, HIGH_RAM_BASE);
    c.kind = HOLE;
    c.offset = 0;
    c.span = end - address;
    return c;
  }

  private unbacked(address: PhysAddr, size: number, write: boolean): void {
    if (this.strict) throw new BusError(address, size, write);
    if (write) this.counters.unbackedWrites++;
    else this.counters.unbackedReads++;
    this.counters.lastUnbackedAddress = address;
  }

  /** In strict mode, throws `BusError` naming the first unbacked byte of [address, address+length). */
  private requireBacked(address: PhysAddr, length: number, write: boolean): void {
    if (!this.strict) return;
    let at = address;
    const end = address + length;
    while (at < end) {
      const c = this.locate(at);
      if (c.kind === HOLE) throw new BusError(at, length, write);
      at += c.span;
    }
  }

  private checkAccess(address: PhysAddr, width: number): void {
    checkPhysAddr("address", address);
    if (address + width > PHYS_ADDRESS_LIMIT) {
      throw new InvalidArgumentError("address", address, `an access of ${width} bytes here runs past 2^52`);
    }
  }

  private checkRange(address: PhysAddr, length: number, argument: string): void {
    checkPhysAddr(argument, address);
    checkInteger("length", length, 0, PHYS_ADDRESS_LIMIT);
    if (address + length > PHYS_ADDRESS_LIMIT) {
      throw new InvalidArgumentError(argument, address, `${length} bytes from here run past 2^52`);
    }
  }
}

/** The smallest and one past the largest value a write of each width takes (table lookups, not `2 ** bits`). */
const VALUE_MIN = [0, -0x80, -0x8000, 0, -0x8000_0000] as const;
const VALUE_END = [0, 0x100, 0x1_0000, 0, 0x1_0000_0000] as const;

/** Validates a value for a write of `width` bytes and returns it unsigned. */
function checkValue(address: number, width: 1 | 2 | 4, value: number): number {
  // The range comparisons are false for NaN; Number.isInteger then refuses fractions.
  if (
    typeof value !== "number" ||
    !(value >= VALUE_MIN[width] && value < VALUE_END[width]) ||
    !Number.isInteger(value)
  ) {
    const bits = 8 * width;
    checkPhysAddr("address", address);
    throw new InvalidArgumentError("value", value, `not a ${bits}-bit integer in [-2^${bits - 1}, 2^${bits})`);
  }
  return width === 4 ? value >>> 0 : value & (width === 2 ? 0xffff : 0xff);
}

function toWidth(value: number, width: 1 | 2 | 4): number {
  return width === 4 ? value >>> 0 : value & (width === 2 ? 0xffff : 0xff);
}
