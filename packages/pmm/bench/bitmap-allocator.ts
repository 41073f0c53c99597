import {
  checkInteger,
  checkPhysAddr,
  checkSize,
  type FirmwareMemoryMap,
  type FrameAllocation,
  type FrameAllocator,
  FrameError,
  type FrameRequest,
  type FrameStats,
  InvalidArgumentError,
  isPowerOfTwo,
  PAGE_SIZE,
  PHYS_ADDRESS_LIMIT,
  type PhysAddr,
} from "@ksim/core";
import { computeUsableLayout } from "../src/memory-layout.js";

const REF = 0x0fff;
const RUN_START = 0x1000;
const RESERVED = 0x2000;
const USED_BEFORE = 0x4000;

/**
 * The original kernel's design (hexahedron/mem/pmm.c) as the benchmark baseline: one bit per frame, 1 = used,
 * first fit from frame 0, whole 32-bit words of used frames skipped. It implements the full `FrameAllocator`
 * contract (with a flat per-frame state array for reference counts and runs) so the shared conformance suite can
 * run against it too.
 */
export class BitmapAllocator implements FrameAllocator {
  readonly frameSize = PAGE_SIZE;
  private readonly bitmap: Int32Array;
  private readonly state: Uint16Array;
  private readonly managed: Uint8Array;
  private readonly frameLimit: number;
  private readonly usable: number;
  private free_ = 0;
  private allocated = 0;
  private reserved_ = 0;

  constructor(map: FirmwareMemoryMap) {
    const layout = computeUsableLayout(map);
    this.frameLimit = layout.frameLimit;
    this.usable = layout.usableFrames;
    this.bitmap = new Int32Array(Math.ceil(this.frameLimit / 32)).fill(-1);
    this.state = new Uint16Array(this.frameLimit);
    this.managed = new Uint8Array(this.frameLimit);
    for (let r = 0; r < layout.starts.length; r++) {
      for (let f = layout.starts[r]!; f < layout.ends[r]!; f++) {
        this.managed[f] = 1;
        this.clearBit(f);
      }
    }
    this.free_ = this.usable;
  }

  allocFrame(): PhysAddr {
    const f = this.findRun(1, 1, this.frameLimit);
    if (f < 0) return 0;
    this.mark(f, 1);
    return f * PAGE_SIZE;
  }

  allocate(request: FrameRequest = {}): FrameAllocation {
    const count = request.count === undefined ? 1 : checkSize("count", request.count);
    const align = request.align === undefined ? PAGE_SIZE : checkInteger("align", request.align, 1);
    if (!isPowerOfTwo(align)) throw new InvalidArgumentError("align", align, "not a power of two");
    const limit = checkInteger("limit", request.limit ?? PHYS_ADDRESS_LIMIT, 0, PHYS_ADDRESS_LIMIT);
    if (count > this.free_) return { ok: false, reason: "out-of-memory", message: "out of memory" };
    const f = this.findRun(
      count,
      Math.max(1, align / PAGE_SIZE),
      Math.min(this.frameLimit, Math.floor(limit / PAGE_SIZE)),
    );
    if (f < 0) return { ok: false, reason: "no-fit", message: "no run fits" };
    this.mark(f, count);
    return { ok: true, address: f * PAGE_SIZE, count };
  }

  free(address: PhysAddr, count = 1): void {
    const f = this.check(address, count);
    for (let g = f; g < f + count; g++) {
      const v = this.state[g]!;
      if ((v & REF) === 0) throw this.unallocated(g, v);
      if ((v & REF) > 1) throw new FrameError(g * PAGE_SIZE, "shared", "is shared");
      if (g > f && (v & RUN_START) !== 0) throw new FrameError(g * PAGE_SIZE, "count-mismatch", "another run");
    }
    this.unmark(f, count);
  }

  reserve(base: PhysAddr, size: number): void {
    const [s, e] = this.range(base, size);
    for (let f = s; f < e; f++) {
      const v = this.state[f]!;
      if (v & RESERVED) throw new FrameError(f * PAGE_SIZE, "reserved", "already reserved");
      if (v & REF) throw new FrameError(f * PAGE_SIZE, "in-use", "allocated");
    }
    for (let f = s; f < e; f++) {
      this.state[f] = RESERVED;
      this.setBit(f);
    }
    this.reserved_ += e - s;
    this.free_ -= e - s;
  }

  unreserve(base: PhysAddr, size: number): void {
    const [s, e] = this.range(base, size);
    for (let f = s; f < e; f++) {
      if ((this.state[f]! & RESERVED) === 0) throw new FrameError(f * PAGE_SIZE, "not-reserved", "not reserved");
    }
    for (let f = s; f < e; f++) {
      this.state[f] = 0;
      this.clearBit(f);
    }
    this.reserved_ -= e - s;
    this.free_ += e - s;
  }

  retain(address: PhysAddr): number {
    const f = this.check(address, 1);
    const v = this.state[f]!;
    if ((v & REF) === 0) throw this.unallocated(f, v);
    if ((v & REF) === REF) throw new InvalidArgumentError("address", address, "reference count overflow");
    this.state[f] = v + 1;
    return (v & REF) + 1;
  }

  release(address: PhysAddr): number {
    const f = this.check(address, 1);
    const v = this.state[f]!;
    if ((v & REF) === 0) throw this.unallocated(f, v);
    if ((v & REF) === 1) {
      this.unmark(f, 1);
      return 0;
    }
    this.state[f] = v - 1;
    return (v & REF) - 1;
  }

  refCount(address: PhysAddr): number {
    checkPhysAddr("address", address);
    if (address % PAGE_SIZE !== 0) throw new FrameError(address, "misaligned", "misaligned");
    const f = address / PAGE_SIZE;
    return f < this.frameLimit ? this.state[f]! & REF : 0;
  }

  isManaged(address: PhysAddr): boolean {
    checkPhysAddr("address", address);
    const f = Math.floor(address / PAGE_SIZE);
    return f < this.frameLimit && this.managed[f] === 1;
  }

  stats(): FrameStats {
    return {
      frameSize: PAGE_SIZE,
      totalFrames: this.frameLimit,
      usableFrames: this.usable,
      freeFrames: this.free_,
      usedFrames: this.allocated + this.reserved_,
      reservedFrames: this.reserved_,
    };
  }

  /** First fit: the lowest aligned run of `count` clear bits ending at or below `limit`; -1 if none. */
  private findRun(count: number, align: number, limit: number): number {
    const bitmap = this.bitmap;
    let f = 0;
    while (f + count <= limit) {
      if ((f & 31) === 0 && bitmap[f >>> 5] === -1) {
        f += 32; // a whole word of used frames
        continue;
      }
      if ((bitmap[f >>> 5]! & (1 << (f & 31))) !== 0) {
        f++;
        continue;
      }
      if (f % align !== 0) {
        f += align - (f % align);
        continue;
      }
      let n = 1;
      while (n < count && (bitmap[(f + n) >>> 5]! & (1 << ((f + n) & 31))) === 0) n++;
      if (n === count) return f;
      f += n + 1;
    }
    return -1;
  }

  private mark(f: number, count: number): void {
    for (let g = f; g < f + count; g++) {
      this.state[g] = 1 | USED_BEFORE;
      this.setBit(g);
    }
    this.state[f] = 1 | USED_BEFORE | RUN_START;
    this.allocated += count;
    this.free_ -= count;
  }

  private unmark(f: number, count: number): void {
    const end = f + count;
    if (end < this.frameLimit && (this.state[end]! & REF) !== 0) this.state[end] = this.state[end]! | RUN_START;
    for (let g = f; g < end; g++) {
      this.state[g] = USED_BEFORE;
      this.clearBit(g);
    }
    this.allocated -= count;
    this.free_ += count;
  }

  private check(address: number, count: number): number {
    checkPhysAddr("address", address);
    checkSize("count", count);
    if (address % PAGE_SIZE !== 0) throw new FrameError(address, "misaligned", "misaligned");
    const f = address / PAGE_SIZE;
    for (let g = f; g < f + count; g++) {
      if (g >= this.frameLimit) throw new FrameError(g * PAGE_SIZE, "out-of-range", "out of range");
      if (this.managed[g] !== 1) throw new FrameError(g * PAGE_SIZE, "not-usable-ram", "not usable RAM");
    }
    return f;
  }

  private range(base: number, size: number): [number, number] {
    checkPhysAddr("base", base);
    checkSize("size", size);
    const s = Math.floor(base / PAGE_SIZE);
    const e = Math.ceil((base + size) / PAGE_SIZE);
    this.check(s * PAGE_SIZE, e - s);
    return [s, e];
  }

  private unallocated(f: number, v: number): FrameError {
    if (v & RESERVED) return new FrameError(f * PAGE_SIZE, "reserved", "reserved");
    if (v & USED_BEFORE) return new FrameError(f * PAGE_SIZE, "double-free", "double free");
    return new FrameError(f * PAGE_SIZE, "not-allocated", "never allocated");
  }

  private setBit(f: number): void {
    this.bitmap[f >>> 5] = this.bitmap[f >>> 5]! | (1 << (f & 31));
  }

  private clearBit(f: number): void {
    this.bitmap[f >>> 5] = this.bitmap[f >>> 5]! & ~(1 << (f & 31));
  }
}
