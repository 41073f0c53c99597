import { describe, expect, test } from "vitest";
import { fakeHeap } from "./testing/fixture.js";

describe("the heap window's virtual pages", () => {
  test("blocks of many sizes and alignments, freed, leave the used window where it started and serve any later size", () => {
    const { heap } = fakeHeap({ frames: 8192 });
    const start = heap.stats().windowBytes;
    for (const size of [36 * 1024, 70 * 1024, 3 * 4096]) {
      for (let shift = 12; shift <= 21; shift++) {
        const live: number[] = [];
        for (let i = 0; i < 40; i++) {
          const p = heap.kmallocAligned(size, 2 ** shift);
          expect(p).not.toBe(0);
          expect(p % 2 ** shift).toBe(0);
          live.push(p);
        }
        for (const p of live) heap.kfree(p);
      }
    }
    expect(heap.stats().liveBlocks).toBe(0);
    expect(heap.stats().windowBytes).toBe(start);
    // Rooms of every earlier size and alignment merged back: one block larger than any of them fits at once.
    const big = heap.kmalloc(16 * 1024 * 1024);
    expect(big).not.toBe(0);
    heap.kfree(big);
  });

  test("a window shared by large blocks and slabs is reused across sizes: the used window stays bounded by the peak", () => {
    const { heap } = fakeHeap({ frames: 8192 });
    let peakWindow = 0;
    for (let round = 0; round < 30; round++) {
      const size = 40_000 + round * 12_345;
      const blocks = Array.from({ length: 20 }, (_, i) => heap.kmalloc(i % 2 === 0 ? size : 100 + round));
      expect(blocks).not.toContain(0);
      if (round === 0) peakWindow = heap.stats().windowBytes;
      for (const p of blocks) heap.kfree(p);
    }
    // Each round's large blocks are bigger than the last's, yet freed rooms merge and serve them.
    expect(heap.stats().windowBytes).toBeLessThanOrEqual(peakWindow);
  });

  test("a large allocation that fails for want of frames leaves the used window and its free rooms as they were", () => {
    const { heap, frames } = fakeHeap({ frames: 4096 });
    heap.kmalloc(16);
    const a = heap.kmalloc(40_000);
    const withA = heap.stats().windowBytes;
    heap.kfree(a);
    const window = heap.stats().windowBytes;
    expect(window).toBeLessThan(withA); // a's room was at the top: the used window shrank
    frames.limit = 0;
    expect(heap.kmalloc(40_000)).toBe(0);
    expect(heap.stats().windowBytes).toBe(window);
    frames.limit = Number.POSITIVE_INFINITY;
    expect(heap.kmalloc(40_000)).toBe(a);
    expect(heap.stats().windowBytes).toBe(withA);
  });
});
