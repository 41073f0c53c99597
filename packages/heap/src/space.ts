import type { FrameAllocator, PhysAddr, Protection, VirtAddr, VirtualMemory } from "@ksim/core";
import { DESCRIPTORS, firstDataPage, PAGE, PAGES_PER_DESCRIPTOR_PAGE } from "./layout.js";
import type { HeapShadow } from "./shadow.js";
import { VirtualRanges } from "./virtual-ranges.js";

/** How the heap maps its pages: kernel data, writable, never executable, global (the same in every address space). */
export const HEAP_PROTECTION: Protection = Object.freeze({
  writable: true,
  user: false,
  executable: false,
  global: true,
});

/**
 * The heap's window, page by page: which virtual pages slabs and large spans use ({@link VirtualRanges}: a bump
 * pointer and the merged free runs below it), and which are backed by frames. Mapping a data page first maps the
 * descriptor page that describes it (zeroed); a descriptor page goes back when the last page it describes does.
 * Every change is all or nothing: a failed map gives back what it took.
 */
export class HeapSpace {
  /** The first page data may use (after the control page and the descriptor pages). */
  readonly firstData: number;
  /** Pages of the window the heap may use. */
  readonly windowPages: number;
  /** Frames mapped now (control page, descriptor pages, data pages) and at most. */
  mappedPages = 0;
  peakMappedPages = 0;
  /** Of those, descriptor pages. */
  descriptorPages = 0;

  /** Virtual pages in use and free below the top. */
  private readonly ranges: VirtualRanges;
  /** Mapped data pages each descriptor page describes. */
  private descriptorUse: Int32Array;
  private readonly frames: PhysAddr[] = [];

  constructor(
    private readonly memory: VirtualMemory,
    private readonly frameAllocator: FrameAllocator,
    private readonly shadow: HeapShadow,
    readonly base: VirtAddr,
    windowPages: number,
  ) {
    this.windowPages = windowPages;
    this.firstData = firstDataPage(windowPages);
    this.ranges = new VirtualRanges(this.firstData, windowPages);
    this.descriptorUse = new Int32Array(this.firstData);
    shadow.grow(this.firstData);
  }

  /** One past the highest page in use: the used window. */
  get top(): number {
    return this.ranges.top;
  }

  /** How many free runs lie below the top (a measure of the window's fragmentation). */
  get freeRuns(): number {
    return this.ranges.freeRuns;
  }

  /**
   * A run of `reserve` virtual pages at a multiple of `align` pages (any positive integer) whose first `pages` are
   * mapped with fresh frames; -1 (nothing changed, the used window and its free runs included) when the window or
   * frames run out.
   */
  take(pages: number, reserve: number, align: number): number {
    const page = this.ranges.take(reserve, align);
    if (page < 0) return -1;
    if (this.map(page, pages)) {
      this.shadow.grow(this.top);
      return page;
    }
    this.ranges.give(page, reserve);
    return -1;
  }

  /**
   * Gives back a run {@link take} returned (its pages must be unmapped). `align` is the alignment it was taken with:
   * unused, since the free runs serve any alignment, and kept so that callers say what they took.
   */
  giveVirtual(page: number, pages: number, _align: number): void {
    this.ranges.give(page, pages);
  }

  /** Maps fresh frames at pages `[page, page + pages)` (and their descriptor pages). False, nothing changed, when out. */
  map(page: number, pages: number): boolean {
    const frames = this.frames;
    frames.length = 0;
    const firstDescriptor = this.descriptorPageOf(page);
    const lastDescriptor = this.descriptorPageOf(page + pages - 1);
    let d = firstDescriptor;
    let mapped = 0;
    for (; d <= lastDescriptor; d++) if (!this.useDescriptor(d)) break;
    if (d > lastDescriptor) {
      for (; mapped < pages; mapped++) {
        const frame = this.mapFrame(this.base + (page + mapped) * PAGE);
        if (frame === 0) break;
        frames.push(frame);
      }
    }
    if (mapped === pages) {
      this.addMapped(pages);
      for (let i = firstDescriptor; i <= lastDescriptor; i++) this.descriptorUse[i]! += countIn(i, page, pages) - 1;
      return true;
    }
    for (let i = 0; i < mapped; i++) this.unmapFrame(this.base + (page + i) * PAGE, frames[i]!);
    for (let i = firstDescriptor; i < d; i++) this.dropDescriptor(i);
    return false;
  }

  /** Unmaps pages `[page, page + pages)` and frees their frames (and descriptor pages no longer needed). */
  unmap(page: number, pages: number): void {
    for (let i = 0; i < pages; i++) {
      const virt = this.base + (page + i) * PAGE;
      this.unmapFrame(virt, this.memory.translate(virt));
    }
    this.mappedPages -= pages;
    const first = this.descriptorPageOf(page);
    const last = this.descriptorPageOf(page + pages - 1);
    for (let d = first; d <= last; d++) {
      this.descriptorUse[d]! -= countIn(d, page, pages) - 1;
      this.dropDescriptor(d);
    }
  }

  /** Maps the control page (page 0). False when out of frames. */
  mapControl(): boolean {
    if (this.mapFrame(this.base) === 0) return false;
    this.addMapped(1);
    return true;
  }

  /** Whether descriptor page `d` (0-based, after the control page) is mapped. */
  descriptorMapped(d: number): boolean {
    return this.descriptorUse[d]! > 0;
  }

  /** Index of the descriptor page that describes data page `page`. */
  descriptorPageOf(page: number): number {
    return Math.floor(page / PAGES_PER_DESCRIPTOR_PAGE);
  }

  /** Takes one use of descriptor page `d`, mapping and zeroing it first if it was not mapped. */
  private useDescriptor(d: number): boolean {
    if (this.descriptorUse[d] === 0) {
      const virt = this.base + DESCRIPTORS + d * PAGE;
      if (this.mapFrame(virt) === 0) return false;
      this.memory.fill(virt, PAGE, 0);
      this.mappedPages++; // the peak moves only when the whole map succeeds
      this.descriptorPages++;
    }
    this.descriptorUse[d]!++;
    return true;
  }

  /** Drops one use of descriptor page `d`; unmaps it at the last. */
  private dropDescriptor(d: number): void {
    if (--this.descriptorUse[d]! !== 0) return;
    const virt = this.base + DESCRIPTORS + d * PAGE;
    this.unmapFrame(virt, this.memory.translate(virt));
    this.mappedPages--;
    this.descriptorPages--;
  }

  /** Maps one fresh frame at `virt`; 0 (nothing changed) when frames or page tables run out. */
  private mapFrame(virt: VirtAddr): PhysAddr {
    const frame = this.frameAllocator.allocFrame();
    if (frame === 0) return 0;
    if (this.memory.map(virt, frame, PAGE, HEAP_PROTECTION).ok) return frame;
    this.frameAllocator.free(frame, 1);
    return 0;
  }

  private unmapFrame(virt: VirtAddr, frame: PhysAddr): void {
    this.memory.unmap(virt, PAGE);
    this.frameAllocator.free(frame, 1);
  }

  private addMapped(pages: number): void {
    this.mappedPages += pages;
    if (this.mappedPages > this.peakMappedPages) this.peakMappedPages = this.mappedPages;
  }
}

/** Pages of `[page, page + pages)` that descriptor page `d` describes. */
function countIn(d: number, page: number, pages: number): number {
  const from = Math.max(page, d * PAGES_PER_DESCRIPTOR_PAGE);
  const to = Math.min(page + pages, (d + 1) * PAGES_PER_DESCRIPTOR_PAGE);
  return to - from;
}
