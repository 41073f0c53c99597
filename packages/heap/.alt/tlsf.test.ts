import { PAGE_SIZE } from "@ksim/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  CLASS_COUNT,
  classMinimum,
  FIRST_BLOCK,
  FREE_BIT,
  FREE_MAGIC,
  MAX_GRANULES,
  MIN_BLOCK,
  PREV_FREE_BIT,
  PREV_PHYS,
  SIZE_MASK,
  sizeClass,
} from "./layout.js";
import { FakeMemory } from "./testing/fake-memory.js";
import { Tlsf } from "./tlsf.js";

const BASE = 0xff00_0000_0000;

/** A TLSF over `pages` mapped pages of a test-double memory; corruption throws a plain Error. */
function tlsfOver(pages: number): { tlsf: Tlsf; memory: FakeMemory } {
  const memory = new FakeMemory(pages * PAGE_SIZE);
  memory.map(BASE, 0, pages * PAGE_SIZE, { writable: true, user: false, executable: false });
  const tlsf = new Tlsf(memory, BASE, (block, detail) => {
    throw new Error(`corrupt at ${block}: ${detail}`);
  });
  tlsf.extendTop((pages * PAGE_SIZE) / 16);
  return { tlsf, memory };
}

/** Walks the blocks in RAM: [start, size, free] in address order. */
function walk(tlsf: Tlsf): [number, number, boolean][] {
  const blocks: [number, number, boolean][] = [];
  for (let block = FIRST_BLOCK; block < tlsf.top - 1; ) {
    const word = tlsf.sizeWord(block);
    blocks.push([block, word & SIZE_MASK, (word & FREE_BIT) !== 0]);
    block += word & SIZE_MASK;
  }
  return blocks;
}

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

describe("TLSF in simulated RAM", () => {
  test("findFit returns a free block at least as large as asked, or 0 only when none is large enough", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: MIN_BLOCK, max: 3000 }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 6000 }), { minLength: 1, maxLength: 30 }),
        (layout, requests) => {
          const total = layout.reduce((a, b) => a + b, 0);
          const { tlsf } = tlsfOver(Math.ceil(((total + FIRST_BLOCK + 1) * 16) / PAGE_SIZE) + 1);
          // Lay out live blocks, then free every other one to get free blocks of many sizes.
          const starts = layout.map((size) => tlsf.take(tlsf.findFit(size), size, 0, 0));
          starts.forEach((start, i) => {
            if (i % 2 === 0) tlsf.release(start, tlsf.sizeWord(start));
          });
          const free = walk(tlsf).filter(([, , isFree]) => isFree);
          const largest = Math.max(0, ...free.map(([, size]) => size));
          for (const want of requests) {
            const found = tlsf.findFit(want);
            if (found === 0) expect(largest).toBeLessThan(want + (want >> 5) + 1);
            else {
              expect(tlsf.sizeWord(found) & FREE_BIT).toBe(FREE_BIT);
              expect(tlsf.sizeWord(found) & SIZE_MASK).toBeGreaterThanOrEqual(want);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  test("release merges with both free neighbours into one block and fixes the links around it", () => {
    const { tlsf } = tlsfOver(1);
    const a = tlsf.take(tlsf.findFit(4), 4, 0, 40);
    const b = tlsf.take(tlsf.findFit(4), 4, 0, 40);
    const c = tlsf.take(tlsf.findFit(4), 4, 0, 40);
    const d = tlsf.take(tlsf.findFit(4), 4, 0, 40);
    tlsf.release(a, tlsf.sizeWord(a));
    tlsf.release(c, tlsf.sizeWord(c));
    expect(tlsf.sizeWord(b) & PREV_FREE_BIT).toBe(PREV_FREE_BIT);
    expect(tlsf.sizeWord(d) & PREV_FREE_BIT).toBe(PREV_FREE_BIT);
    expect(tlsf.freeBlocks).toBe(3);
    expect(tlsf.release(b, tlsf.sizeWord(b))).toBe(a);
    expect(tlsf.freeBlocks).toBe(2);
    expect(walk(tlsf).slice(0, 2)).toEqual([
      [a, 12, true],
      [d, 4, false],
    ]);
    expect(tlsf.word(d, PREV_PHYS)).toBe(a);
    expect(tlsf.word(a, 12)).toBe(FREE_MAGIC);
  });

  test("random takes and releases keep the chain tiling the heap, with no two free neighbours", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: MIN_BLOCK, max: 300 }), fc.nat()), { maxLength: 150 }),
        (steps) => {
          const { tlsf } = tlsfOver(16);
          const live: number[] = [];
          for (const [allocate, size, pick] of steps) {
            if (allocate || live.length === 0) {
              const found = tlsf.findFit(size);
              if (found !== 0) live.push(tlsf.take(found, size, 0, 0));
            } else {
              const [block] = live.splice(pick % live.length, 1);
              tlsf.release(block!, tlsf.sizeWord(block!));
            }
            const blocks = walk(tlsf);
            expect(blocks.reduce((sum, [, size]) => sum + size, FIRST_BLOCK + 1)).toBe(tlsf.top);
            blocks.forEach(([start, , free], i) => {
              if (i > 0) {
                expect(tlsf.word(start, PREV_PHYS)).toBe(blocks[i - 1]![0]);
                expect(free && blocks[i - 1]![2]).toBe(false);
              }
            });
            expect(blocks.filter(([, , free]) => free).length).toBe(tlsf.freeBlocks);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
