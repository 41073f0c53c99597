import {
  checkInteger,
  type FrameAllocation,
  type FrameAllocator,
  FrameError,
  type FrameRequest,
  type FrameStats,
} from "@ksim/core";

const FRAME = 0x1000;

/**
 * A test-only {@link FrameAllocator}: a stack of free single frames over `[base, base + size)` with reference
 * counts. Contiguous requests are served only for `count: 1`. The real allocator lives in `@ksim/pmm`.
 */
export class FreeListFrames implements FrameAllocator {
  readonly frameSize = FRAME;
  private readonly freeList: number[] = [];
  private readonly refs = new Map<number, number>();

  constructor(
    private readonly base: number,
    private readonly size: number,
  ) {
    for (let a = base + size - FRAME; a >= base; a -= FRAME) this.freeList.push(a);
  }

  allocFrame(): number {
    const frame = this.freeList.pop();
    if (frame === undefined) return 0;
    this.refs.set(frame, 1);
    return frame;
  }

  allocate(request: FrameRequest = {}): FrameAllocation {
    if ((request.count ?? 1) !== 1) return { ok: false, reason: "no-fit", message: "only single frames" };
    const address = this.allocFrame();
    return address === 0
      ? { ok: false, reason: "out-of-memory", message: "no free frame" }
      : { ok: true, address, count: 1 };
  }

  free(address: number, count = 1): void {
    checkInteger("count", count, 1, 1);
    if (!this.refs.has(address)) throw new FrameError(address, "not-allocated", "not allocated");
    this.refs.delete(address);
    this.freeList.push(address);
  }

  reserve(): void {
    throw new Error("FreeListFrames.reserve is not supported");
  }
  unreserve(): void {
    throw new Error("FreeListFrames.unreserve is not supported");
  }

  retain(address: number): number {
    const count = this.refs.get(address);
    if (count === undefined) throw new FrameError(address, "not-allocated", "not allocated");
    this.refs.set(address, count + 1);
    return count + 1;
  }

  release(address: number): number {
    const count = this.refs.get(address);
    if (count === undefined) throw new FrameError(address, "double-free", "released while free");
    if (count === 1) {
      this.free(address);
      return 0;
    }
    this.refs.set(address, count - 1);
    return count - 1;
  }

  refCount(address: number): number {
    return this.refs.get(address) ?? 0;
  }

  isManaged(address: number): boolean {
    return address >= this.base && address < this.base + this.size;
  }

  stats(): FrameStats {
    const usable = this.size / FRAME;
    return {
      frameSize: FRAME,
      totalFrames: (this.base + this.size) / FRAME,
      usableFrames: usable,
      freeFrames: this.freeList.length,
      usedFrames: usable - this.freeList.length,
      reservedFrames: 0,
    };
  }
}
