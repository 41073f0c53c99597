import {
  type FrameAllocation,
  type FrameAllocator,
  type FrameRequest,
  type FrameStats,
  InvalidArgumentError,
  type PhysAddr,
} from "@ksim/core";

/**
 * A test-only {@link FrameAllocator} that passes every call to another one and remembers which frames went out
 * through it. Give one to each user of a shared allocator (the DMA layer, the architecture's page tables) to see
 * exactly who holds what: a leak shows as a frame still held, a foreign free as an error.
 */
export class TrackingFrames implements FrameAllocator {
  readonly inner: FrameAllocator;
  readonly frameSize: number;
  /** Frames this wrapper handed out and that are not freed yet. */
  readonly held = new Set<PhysAddr>();
  /** Allocation calls that failed (no frame, or no run meeting the request). */
  failures = 0;

  constructor(inner: FrameAllocator) {
    this.inner = inner;
    this.frameSize = inner.frameSize;
  }

  allocFrame(): PhysAddr {
    const frame = this.inner.allocFrame();
    if (frame === 0) this.failures++;
    else this.held.add(frame);
    return frame;
  }

  allocate(request?: FrameRequest): FrameAllocation {
    const result = this.inner.allocate(request);
    if (!result.ok) {
      this.failures++;
      return result;
    }
    for (let i = 0; i < result.count; i++) this.held.add(result.address + i * this.frameSize);
    return result;
  }

  /** @throws InvalidArgumentError, passing nothing on, when a frame in the range did not go out through here. */
  free(address: PhysAddr, count = 1): void {
    for (let i = 0; i < count; i++) {
      const frame = address + i * this.frameSize;
      if (!this.held.has(frame)) {
        throw new InvalidArgumentError("address", frame, "this user never got that frame from the allocator");
      }
    }
    this.inner.free(address, count);
    for (let i = 0; i < count; i++) this.held.delete(address + i * this.frameSize);
  }

  reserve(base: PhysAddr, size: number): void {
    this.inner.reserve(base, size);
  }
  unreserve(base: PhysAddr, size: number): void {
    this.inner.unreserve(base, size);
  }
  retain(address: PhysAddr): number {
    return this.inner.retain(address);
  }
  release(address: PhysAddr): number {
    const count = this.inner.release(address);
    if (count === 0) this.held.delete(address);
    return count;
  }
  refCount(address: PhysAddr): number {
    return this.inner.refCount(address);
  }
  isManaged(address: PhysAddr): boolean {
    return this.inner.isManaged(address);
  }
  stats(): FrameStats {
    return this.inner.stats();
  }
}
