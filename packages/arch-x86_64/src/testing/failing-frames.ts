import type { FrameAllocation, FrameAllocator, FrameRequest, FrameStats } from "@ksim/core";

/**
 * Wraps a real {@link FrameAllocator} and makes allocation number `failAt` (0-based, counted across `allocFrame`
 * and `allocate`) fail as if memory had run out. `failAt = -1` never fails. Used to check that every caller
 * rolls back cleanly at every allocation point.
 */
export class FailingFrames implements FrameAllocator {
  /** Allocations attempted since the last {@link arm}. */
  attempts = 0;
  private failAt = -1;

  constructor(readonly inner: FrameAllocator) {}

  get frameSize(): number {
    return this.inner.frameSize;
  }

  /** Makes allocation number `failAt` (from now on) fail; -1 disarms. Resets the attempt counter. */
  arm(failAt: number): void {
    this.failAt = failAt;
    this.attempts = 0;
  }

  private shouldFail(): boolean {
    return this.attempts++ === this.failAt;
  }

  allocFrame(): number {
    return this.shouldFail() ? 0 : this.inner.allocFrame();
  }
  allocate(request?: FrameRequest): FrameAllocation {
    if (this.shouldFail()) return { ok: false, reason: "out-of-memory", message: "injected exhaustion" };
    return this.inner.allocate(request);
  }
  free(address: number, count?: number): void {
    this.inner.free(address, count);
  }
  reserve(base: number, size: number): void {
    this.inner.reserve(base, size);
  }
  unreserve(base: number, size: number): void {
    this.inner.unreserve(base, size);
  }
  retain(address: number): number {
    return this.inner.retain(address);
  }
  release(address: number): number {
    return this.inner.release(address);
  }
  refCount(address: number): number {
    return this.inner.refCount(address);
  }
  isManaged(address: number): boolean {
    return this.inner.isManaged(address);
  }
  stats(): FrameStats {
    return this.inner.stats();
  }
}
