import type { FrameAllocator, PhysAddr, Protection, VirtAddr, VirtualMemory } from "@ksim/core";
import { DESCRIPTORS, firstDataPage, PAGE, PAGES_PER_DESCRIPTOR_PAGE } from "./layout.js";
import type { HeapShadow } from "./shadow.js";

/** How the heap maps its pages: kernel data, writable, never executable, global (the same in every address space). */
export const HEAP_PROTECTION: Protection = Object.freeze({
  writable: true,
  user: false,
  executable: false,
  global: true,
});

/**
 * The heap's window, page by page: which virtual pages slabs and large spans use (a bump pointer plus spans given
 * back, reused by page count and alignment), and which are backed by frames. Mapping a data page first maps the
 * descriptor page that describes it (zeroed); a descriptor page goes back when the last page it describes does.
 * Every change is all or nothing: a failed map gives back what it took.
 */
export class HeapSpace {
  /** The first page data may use (after the control page and the descriptor pages). */
  readonly firstData: number;
  /** Pages of the window the heap may use. */
  readonly windowPages: number;
  /** One past the highest page handed out so far: the used window. */
  top: number;
  /** Frames mapped now (control page, descriptor pages, data pages) and at most. */
  mappedPages = 0;
  peakMappedPages = 0;
  /** Of those, descriptor pages. */
  descriptorPages = 0;

  /** Spans given back, by {@link spanKey}. */
  private readonly spans = new Map<number, number[]>();
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
    this.top = this.firstData;
    this.descriptorUse = new Int32Array(this.firstData);
    shadow.grow(this.top);
  }

  /**
   * A run of `pages` virtual pages starting at a multiple of `align` pages (recycled or fresh), not mapped yet; -1
   * when the window is full.
   */
  takeVirtual(pages: number, align: number): number {
    const list = this.spans.get(spanKey(pages, align));
    if (list !== undefined && list.length > 0) return list.pop()!;
    const page = Math.ceil(this.top / align) * align;
    if (page + pages > this.windowPages) return -1;
    this.top = page + pages;
    this.shadow.grow(this.top);
    return page;
  }

  /**
   * A run of `reserve` virtual pages at a multiple of `align` pages whose first `pages` are mapped with fresh frames;
   * -1 (nothing changed, the used window included) when the window or frames run out.
   */
  take(pages: number, reserve: number, align: number): number {
    const top = this.top;
    const page = this.takeVirtual(reserve, align);
    if (page < 0) return -1;
    if (this.map(page, pages)) return page;
    if (this.top === page + reserve) this.top = top;
    else this.giveVirtual(page, reserve, align);
    return -1;
  }

  /** Gives back a run {@link takeVirtual} returned (its pages must be unmapped). */
  giveVirtual(page: number, pages: number, align: number): void {
    const key = spanKey(pages, align);
    const list = this.spans.get(key);
    if (list === undefined) this.spans.set(key, [page]);
    else list.push(page);
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

/** Free spans are reused only by requests of the same page count and alignment (slabs are aligned to their size). */
function spanKey(pages: number, align: number): number {
  return pages * 1024 + align;
}
