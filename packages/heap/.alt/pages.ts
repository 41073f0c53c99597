import { type FrameAllocator, PAGE_SIZE, type Protection, type VirtAddr, type VirtualMemory } from "@ksim/core";

/** How heap pages are mapped: kernel-only, writable, never executable, global. */
export const HEAP_PROTECTION: Protection = Object.freeze({
  writable: true,
  user: false,
  executable: false,
  global: true,
});

/**
 * The heap's break (mem_sbrk): the prefix `[base, base + count * 4 KiB)` of the heap window, backed by frames from
 * the frame allocator. It grows by mapping fresh frames and shrinks by unmapping and freeing them; pages inside it
 * can also be given back (holes, inside large free blocks) and mapped again before the memory is handed out. Every
 * change is all-or-nothing.
 */
export class HeapPages {
  /** Physical address of the frame behind each mapped page. */
  private frames: Float64Array = new Float64Array(64);
  private pending: Float64Array = new Float64Array(64);
  /** Pages the running {@link fill} mapped (to roll back). */
  private readonly fresh: number[] = [];
  /** Pages of the extent from the window's base, holes included. */
  count = 0;
  /** Pages of the extent given back (their frame is 0). */
  holes = 0;

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

  /** Bytes mapped (the extent but its holes). */
  get bytes(): number {
    return (this.count - this.holes) * PAGE_SIZE;
  }

  /** Pages mapped (the extent but its holes). */
  get resident(): number {
    return this.count - this.holes;
  }

  /**
   * Unmaps the mapped pages among `[from, to)` (page indices inside the extent) and frees their frames: they become
   * holes. Returns how many pages were given back.
   */
  punch(from: number, to: number): number {
    const frames = this.frames;
    let given = 0;
    let run = from;
    while (run < to) {
      if (frames[run] === 0) {
        run++;
        continue;
      }
      let end = run + 1;
      while (end < to && frames[end] !== 0) end++;
      this.memory.unmap(this.base + run * PAGE_SIZE, (end - run) * PAGE_SIZE);
      for (let i = run; i < end; i++) {
        this.allocator.free(frames[i]!, 1);
        frames[i] = 0;
      }
      given += end - run;
      run = end;
    }
    this.holes += given;
    return given;
  }

  /**
   * Maps fresh frames into the holes among pages `[from, to)` (clipped to the extent). Returns false, with the frame
   * allocator and the mappings as they were, when frames or page tables run out.
   */
  fill(from: number, to: number): boolean {
    if (this.holes === 0) return true;
    const frames = this.frames;
    const end = Math.min(to, this.count);
    let filled = 0;
    for (let i = from; i < end; i++) {
      if (frames[i] !== 0) continue;
      const frame = this.allocator.allocFrame();
      const mapped = frame !== 0 && this.memory.map(this.base + i * PAGE_SIZE, frame, PAGE_SIZE, HEAP_PROTECTION).ok;
      if (!mapped) {
        if (frame !== 0) this.allocator.free(frame, 1);
        // Give back what this call mapped: the holes are as they were.
        for (let j = from; j < i; j++) {
          if (frames[j] !== 0 && this.isFresh(j)) {
            this.memory.unmap(this.base + j * PAGE_SIZE, PAGE_SIZE);
            this.allocator.free(frames[j]!, 1);
            frames[j] = 0;
          }
        }
        this.fresh.length = 0;
        return false;
      }
      frames[i] = frame;
      this.fresh.push(i);
      filled++;
    }
    this.fresh.length = 0;
    this.holes -= filled;
    return true;
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
    this.punch(index, this.count);
    for (let i = index; i < this.count; i++) this.frames[i] = 0;
    this.holes -= this.count - index;
    this.count = index;
  }

  private isFresh(page: number): boolean {
    return this.fresh.includes(page);
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
