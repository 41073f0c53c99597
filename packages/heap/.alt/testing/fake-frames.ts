import {
  type FrameAllocation,
  type FrameAllocator,
  FrameError,
  type FrameRequest,
  type FrameStats,
  PAGE_SIZE,
} from "@ksim/core";

/**
 * Test double of a frame allocator: `count` frames from physical 1 MiB up, handed out lowest first, with a knob to
 * make it run dry on demand ({@link FakeFrames.limit}). Used where the real `@ksim/pmm` would make a test slow or
 * where exhaustion has to be injected at an exact point.
 */
export class FakeFrames implements FrameAllocator {
  readonly frameSize = PAGE_SIZE;
  /** First physical address handed out. */
  readonly start = 0x10_0000;
  /** How many more frames may be handed out before it reports out-of-memory (Infinity: only the real count). */
  limit = Number.POSITIVE_INFINITY;
  private readonly refs: Uint8Array;
  private readonly freeStack: Int32Array;
  private freeCount: number;

  constructor(readonly count: number) {
    this.refs = new Uint8Array(count);
    this.freeStack = new Int32Array(count);
    for (let i = 0; i < count; i++) this.freeStack[i] = count - 1 - i;
    this.freeCount = count;
  }

  /** Bytes of physical memory the frames span, from 0 (what a RAM buffer for them must hold). */
  get physicalSize(): number {
    return this.start + this.count * PAGE_SIZE;
  }

  allocFrame(): number {
    if (this.freeCount === 0 || this.limit <= 0) return 0;
    this.limit--;
    const index = this.freeStack[--this.freeCount]!;
    this.refs[index] = 1;
    return this.start + index * PAGE_SIZE;
  }

  allocate(request: FrameRequest = {}): FrameAllocation {
    if ((request.count ?? 1) !== 1) {
      return { ok: false, reason: "no-fit", message: "FakeFrames hands out single frames only" };
    }
    const address = this.allocFrame();
    if (address === 0) return { ok: false, reason: "out-of-memory", message: "no free frame" };
    return { ok: true, address, count: 1 };
  }

  free(address: number, count = 1): void {
    for (let i = 0; i < count; i++) {
      const index = this.indexOf(address + i * PAGE_SIZE);
      if (this.refs[index] === 0) throw new FrameError(address, "double-free", "frame is already free");
    }
    for (let i = 0; i < count; i++) {
      const index = this.indexOf(address + i * PAGE_SIZE);
      this.refs[index] = 0;
      this.freeStack[this.freeCount++] = index;
    }
  }

  reserve(): void {
    throw new Error("FakeFrames.reserve is not supported");
  }

  unreserve(): void {
    throw new Error("FakeFrames.unreserve is not supported");
  }

  retain(address: number): number {
    return ++this.refs[this.indexOf(address)]!;
  }

  release(address: number): number {
    const index = this.indexOf(address);
    const count = --this.refs[index]!;
    if (count === 0) this.freeStack[this.freeCount++] = index;
    return count;
  }

  refCount(address: number): number {
    return this.refs[this.indexOf(address)]!;
  }

  isManaged(address: number): boolean {
    return address >= this.start && address < this.physicalSize;
  }

  stats(): FrameStats {
    return {
      frameSize: PAGE_SIZE,
      totalFrames: this.physicalSize / PAGE_SIZE,
      usableFrames: this.count,
      freeFrames: this.freeCount,
      usedFrames: this.count - this.freeCount,
      reservedFrames: 0,
    };
  }

  private indexOf(address: number): number {
    const index = (address - this.start) / PAGE_SIZE;
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new FrameError(address, "out-of-range", "not a frame of this allocator");
    }
    return index;
  }
}
