import { type FrameAllocator, PAGE_SIZE, type Protection, type VirtAddr, type VirtualMemory } from "@ksim/core";

/** How heap pages are mapped: kernel-only, writable, never executable, global. */
export const HEAP_PROTECTION: Protection = Object.freeze({
  writable: true,
  user: false,
  executable: false,
  global: true,
});

/**
 * The heap's break (mem_sbrk): the mapped prefix `[base, base + pages * 4 KiB)` of the heap window, backed by
 * frames from the frame allocator. It grows by mapping fresh frames and shrinks by unmapping and freeing them.
 * Both directions are all-or-nothing.
 */
export class HeapPages {
  /** Physical address of the frame behind each mapped page. */
  private frames: Float64Array = new Float64Array(64);
  private pending: Float64Array = new Float64Array(64);
  /** Pages mapped from the window's base. */
  count = 0;

  /**
   * @param fillByte a byte to fill fresh pages with (the debug mode's free poison), or -1 to leave them as they are
   *   (fresh frames are not zeroed, as in the original kernel).
   */
  constructor(
    private readonly memory: VirtualMemory,
    private readonly allocator: FrameAllocator,
    private readonly base: VirtAddr,
    readonly maxPages: number,
    private readonly fillByte: number,
  ) {}

  /** Bytes mapped. */
  get bytes(): number {
    return this.count * PAGE_SIZE;
  }

  /** The frame behind mapped page `index` (for checks). */
  frameOf(index: number): number {
    return this.frames[index]!;
  }

  /**
   * Maps `pages` fresh pages after the break. Returns false, with the frame allocator and the mappings as they
   * were, when the window is full or frames run out (for the data pages or for page tables).
   */
  grow(pages: number): boolean {
    if (pages <= 0 || this.count + pages > this.maxPages) return false;
    if (this.pending.length < pages) this.pending = new Float64Array(Math.max(pages, this.pending.length * 2));
    const pending = this.pending;
    for (let i = 0; i < pages; i++) {
      const frame = this.allocator.allocFrame();
      if (frame === 0) {
        this.freeFrames(pending, 0, i);
        return false;
      }
      pending[i] = frame;
    }
    const start = this.base + this.count * PAGE_SIZE;
    // Map runs of physically consecutive frames with one call each; each call is all-or-nothing.
    let run = 0;
    while (run < pages) {
      let end = run + 1;
      while (end < pages && pending[end] === pending[end - 1]! + PAGE_SIZE) end++;
      const result = this.memory.map(start + run * PAGE_SIZE, pending[run]!, (end - run) * PAGE_SIZE, HEAP_PROTECTION);
      if (!result.ok) {
        if (run > 0) this.memory.unmap(start, run * PAGE_SIZE);
        this.freeFrames(pending, 0, pages);
        return false;
      }
      run = end;
    }
    this.ensureCapacity(this.count + pages);
    this.frames.set(pending.subarray(0, pages), this.count);
    this.count += pages;
    if (this.fillByte >= 0) this.memory.fill(start, pages * PAGE_SIZE, this.fillByte);
    return true;
  }

  /** Unmaps the pages at and above page `index` and frees their frames. */
  shrinkTo(index: number): void {
    if (index >= this.count) return;
    this.memory.unmap(this.base + index * PAGE_SIZE, (this.count - index) * PAGE_SIZE);
    this.freeFrames(this.frames, index, this.count);
    this.count = index;
  }

  private freeFrames(list: Float64Array, from: number, to: number): void {
    for (let i = from; i < to; i++) this.allocator.free(list[i]!, 1);
  }

  private ensureCapacity(pages: number): void {
    if (pages <= this.frames.length) return;
    let capacity = this.frames.length;
    while (capacity < pages) capacity *= 2;
    const next = new Float64Array(capacity);
    next.set(this.frames.subarray(0, this.count));
    this.frames = next;
  }
}
