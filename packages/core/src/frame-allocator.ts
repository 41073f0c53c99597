import type { PhysAddr } from "./address.js";

/** What to allocate. Every field is optional; the defaults give one 4 KiB frame anywhere. */
export interface FrameRequest {
  /** Number of physically contiguous frames (any positive integer, not only powers of two). Default 1. */
  readonly count?: number;
  /** Alignment of the first frame in bytes: a power of two, at least the frame size. Default the frame size. */
  readonly align?: number;
  /** The run must end at or below this physical address (e.g. 2^32 for 32-bit DMA, 16 MiB for ISA). */
  readonly limit?: PhysAddr;
}

/** The result of {@link FrameAllocator.allocate}. Failure is a value; the allocator is unchanged by it. */
export type FrameAllocation =
  | { readonly ok: true; readonly address: PhysAddr; readonly count: number }
  | {
      readonly ok: false;
      /** `out-of-memory`: fewer free frames than asked; `no-fit`: enough frames, but no run meets the constraints. */
      readonly reason: "out-of-memory" | "no-fit";
      readonly message: string;
    };

/** Counts in frames. `usable = free + used`; `reserved` counts usable RAM taken out by {@link FrameAllocator.reserve}. */
export interface FrameStats {
  readonly frameSize: number;
  /** Frames spanned by the memory map up to the highest usable address, holes included. */
  readonly totalFrames: number;
  /** Frames of usable RAM that the allocator manages. */
  readonly usableFrames: number;
  readonly freeFrames: number;
  readonly usedFrames: number;
  readonly reservedFrames: number;
}

/**
 * A physical frame allocator. Implementations never hand out physical address 0 (the first MiB is always reserved),
 * so 0 can mean "none" on the C-style paths.
 *
 * Failures of the caller (double free, freeing a frame never allocated or reserved, misaligned or out-of-range
 * addresses, NaN/negative/fractional counts) throw `FrameError` or `InvalidArgumentError` and change nothing.
 * Running out of memory is not an error: `allocFrame` returns 0 and `allocate` returns `{ ok: false }`.
 */
export interface FrameAllocator {
  readonly frameSize: number;
  /** Hot path: one frame, or 0 when no frame is free. */
  allocFrame(): PhysAddr;
  /** One frame or a contiguous run with alignment and an upper physical limit. */
  allocate(request?: FrameRequest): FrameAllocation;
  /** Frees `count` frames starting at `address`, which must be exactly what one allocation returned or part of it. */
  free(address: PhysAddr, count?: number): void;
  /** Takes usable RAM out of circulation (e.g. the kernel image). Every frame in the range must be free. */
  reserve(base: PhysAddr, size: number): void;
  /** Gives a range previously reserved back to the free pool. */
  unreserve(base: PhysAddr, size: number): void;
  /** Adds a reference to an allocated frame (shared pages); returns the new count. A fresh frame has count 1. */
  retain(address: PhysAddr): number;
  /** Drops a reference; the frame is freed when the count reaches 0. Returns the new count. */
  release(address: PhysAddr): number;
  /** The reference count of a frame: 0 when free. */
  refCount(address: PhysAddr): number;
  /** True when `address` lies in usable RAM that this allocator manages (free, used or reserved by it). */
  isManaged(address: PhysAddr): boolean;
  stats(): FrameStats;
}
