import { type FrameAllocator, KernelPanic, PAGE_SIZE, type VirtAddr, type VirtualMemory } from "@ksim/core";
import type { DebugGuard } from "./debug-guard.js";
import { FIRST_BLOCK, GRANULE, HEADER_SIZE, MIN_BLOCK } from "./layout.js";
import type { HeapSizing } from "./options.js";
import { HeapPages } from "./pages.js";
import type { HeapShadow } from "./shadow.js";
import type { Tlsf } from "./tlsf.js";

const GRANULES_PER_PAGE = PAGE_SIZE / GRANULE;

/** What the extent works on. */
export interface ExtentContext {
  readonly memory: VirtualMemory;
  readonly frames: FrameAllocator;
  readonly base: VirtAddr;
  /** Bytes of the window the heap may use. */
  readonly capacity: number;
  readonly tlsf: Tlsf;
  readonly shadow: HeapShadow;
  readonly sizing: HeapSizing;
  /** Debug mode's guard (pages are poisoned when mapped, a swallowed end marker too), or null. */
  readonly guard: DebugGuard | null;
  /** Byte to fill fresh pages with, or -1. */
  readonly fillByte: number;
}

/**
 * The heap's extent: the pages mapped at its break (mem_sbrk) and the allocator's blocks over them. It grows by
 * mapping fresh frames after the top, at least `growBytes` at a time, and gives whole free pages at the top back to
 * the frame allocator past a threshold (all but the initial ones when the heap is empty). Both directions are
 * all-or-nothing: a growth that fails leaves the heap and the frame allocator as they were.
 */
export class HeapExtent {
  /** The pages and the frames behind them. */
  readonly pages: HeapPages;
  /** The most bytes ever mapped. */
  peakMappedBytes = 0;

  constructor(private readonly context: ExtentContext) {
    this.pages = new HeapPages(
      context.memory,
      context.frames,
      context.base,
      context.capacity / PAGE_SIZE,
      context.fillByte,
    );
    const initial = context.sizing.initialPages;
    if (initial > 0) {
      if (!this.pages.grow(initial)) {
        throw new KernelPanic(
          "OUT_OF_MEMORY",
          "heap",
          `cannot map the initial ${initial * PAGE_SIZE} bytes of the heap`,
        );
      }
      this.extendTop();
    }
  }

  /** Granules of the extent (holes included). */
  get mappedGranules(): number {
    return this.pages.count * GRANULES_PER_PAGE;
  }

  /**
   * Gives back the pages wholly inside free block `[start, end)` (past its header and link, before the next block's
   * header) when the block spans at least `trimThreshold` bytes and is not the last block (the top is trimmed by
   * {@link trim}) nor among the initial pages. Not in debug mode, whose free memory is poison that must stay readable.
   */
  releaseInterior(start: number, end: number): void {
    const { tlsf, sizing, guard } = this.context;
    if (guard !== null || end >= tlsf.top - 1 || (end - start) * GRANULE < Math.max(sizing.trimThreshold, PAGE_SIZE)) {
      return;
    }
    // The initial pages stay: the heap keeps them mapped even when empty (liballoc's reserve).
    const first = Math.max(sizing.initialPages, Math.ceil((start * GRANULE + HEADER_SIZE + 4) / PAGE_SIZE));
    const last = Math.floor((end * GRANULE) / PAGE_SIZE);
    if (last > first) this.pages.punch(first, last);
  }

  /**
   * Maps the holes among the pages of granules `[from, to)` before that memory is handed out or written. False, with
   * nothing changed, when frames run out.
   */
  prepare(from: number, to: number): boolean {
    const pages = this.pages;
    if (pages.holes === 0) return true;
    if (!pages.fill(Math.floor((from * GRANULE) / PAGE_SIZE), Math.ceil((to * GRANULE) / PAGE_SIZE))) return false;
    if (pages.bytes > this.peakMappedBytes) this.peakMappedBytes = pages.bytes;
    return true;
  }

  /**
   * Maps pages at the top so that a free block of `granules` exists there (with the control block and the end
   * marker when nothing is mapped yet). False, with nothing changed, if the window or the frames run out.
   */
  growFor(granules: number): boolean {
    const { tlsf, sizing } = this.context;
    const pages = this.pages;
    const top = tlsf.top;
    let available: number;
    if (top === 0) available = -(FIRST_BLOCK + 1);
    else {
      const tail = tlsf.freeTail();
      available = tail !== 0 ? top - 1 - tail : 0;
    }
    const needed = Math.ceil((granules - available) / GRANULES_PER_PAGE);
    const room = pages.maxPages - pages.count;
    if (needed > room) return false;
    const wanted = Math.min(Math.max(needed, sizing.growPages), room);
    if (!pages.grow(wanted) && (wanted === needed || !pages.grow(needed))) return false;
    this.extendTop();
    return true;
  }

  /**
   * Gives whole free pages at the top back: all but the initial ones when `liveBlocks` is 0, else when more than
   * `trimThreshold` bytes are free there, keeping `topPad`.
   */
  trim(liveBlocks: number): void {
    const { tlsf, sizing } = this.context;
    const tail = tlsf.freeTail();
    if (tail === 0) return;
    const top = tlsf.top;
    const floor = sizing.initialPages * GRANULES_PER_PAGE;
    let newTop: number;
    if (liveBlocks === 0) {
      newTop = floor;
    } else {
      if ((top - 1 - tail) * GRANULE <= sizing.trimThreshold) return;
      // The free block keeps at least MIN_BLOCK granules plus the pad; the end marker follows it.
      const keep = tail + MIN_BLOCK + sizing.topPad / GRANULE;
      newTop = Math.max(floor, Math.ceil((keep + 1) / GRANULES_PER_PAGE) * GRANULES_PER_PAGE);
    }
    if (newTop >= top) return;
    // The end marker goes in the new extent's last page, which may be a hole of the free block.
    if (newTop !== 0 && !this.prepare(newTop - 1, newTop)) return;
    tlsf.shrinkTop(newTop);
    this.pages.shrinkTo(newTop / GRANULES_PER_PAGE);
  }

  /** Adds the pages the break has grown by to the allocator. */
  private extendTop(): void {
    const { tlsf, shadow, guard } = this.context;
    const top = this.mappedGranules;
    const oldTop = tlsf.top;
    shadow.ensureCapacity(top);
    const start = tlsf.extendTop(top);
    // The old end marker is now inside a free block: poison it like the rest.
    if (guard !== null && oldTop !== 0 && start !== oldTop - 1) guard.poisonGranule(oldTop - 1);
    if (this.pages.bytes > this.peakMappedBytes) this.peakMappedBytes = this.pages.bytes;
  }
}
