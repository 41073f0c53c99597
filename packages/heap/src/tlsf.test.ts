import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { CLASS_COUNT, classMinimum, Flag, MAX_GRANULES, MIN_BLOCK, sizeClass, TlsfIndex } from "./tlsf.js";

describe("size classes", () => {
  test("below 64 granules every size has its own class", () => {
    for (let size = 1; size < 64; size++) expect(sizeClass(size)).toBe(size);
  });

  test("classes are monotonic and each size lies between its class minimum and the next one", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_GRANULES - 1 }), (size) => {
        const index = sizeClass(size);
        expect(index).toBeLessThan(CLASS_COUNT);
        expect(classMinimum(index)).toBeLessThanOrEqual(size);
        expect(sizeClass(size + 1)).toBeGreaterThanOrEqual(index);
        if (index + 1 < CLASS_COUNT) expect(classMinimum(index + 1)).toBeGreaterThan(size);
      }),
    );
  });

  test("a class spans at most 1/32 of its sizes", () => {
    for (let index = 64; index + 1 < sizeClass(MAX_GRANULES - 1); index++) {
      const span = classMinimum(index + 1) - classMinimum(index);
      expect(span * 32).toBeLessThanOrEqual(classMinimum(index));
    }
  });
});

describe("TlsfIndex", () => {
  test("findFit returns a free block at least as large as asked, or -1 only when none exists", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: MIN_BLOCK, max: 5000 }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 6000 }), { minLength: 1, maxLength: 30 }),
        (layout, requests) => {
          // Lay out live blocks, then free every other one to get free blocks of many sizes.
          const index = new TlsfIndex(16);
          const total = layout.reduce((a, b) => a + b, 0);
          index.ensureCapacity(total + 1);
          index.extendTop(total);
          const starts: number[] = [];
          for (const size of layout) starts.push(index.take(index.findFit(size), size));
          starts.forEach((start, i) => {
            if (i % 2 === 0) index.release(start);
          });
          for (const want of requests) {
            const found = index.findFit(want);
            const largest = Math.max(
              0,
              ...starts.filter((s) => (index.flagsOf(s) & Flag.Free) !== 0).map((s) => index.sizeOf(s)),
            );
            if (found < 0) expect(largest).toBeLessThan(want + (want >> 5) + 1);
            else {
              expect(index.flagsOf(found) & Flag.Free).toBe(Flag.Free);
              expect(index.sizeOf(found)).toBeGreaterThanOrEqual(want);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test("release merges with both free neighbours into one block", () => {
    const index = new TlsfIndex(16);
    index.ensureCapacity(101);
    index.extendTop(100);
    const a = index.take(index.findFit(10), 10);
    const b = index.take(index.findFit(10), 10);
    const c = index.take(index.findFit(10), 10);
    index.release(a);
    index.release(c);
    expect(index.freeBlocks).toBe(2);
    expect(index.release(b)).toBe(a);
    expect(index.freeBlocks).toBe(1);
    expect(index.sizeOf(a)).toBe(100);
    expect(index.flagsOf(b)).toBe(Flag.Handed);
  });
});
