import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { VirtualRanges } from "./virtual-ranges.js";

describe("VirtualRanges", () => {
  test("bumps the top, keeps an aligned request's padding, and serves it to a later request", () => {
    const ranges = new VirtualRanges(5, 1000);
    expect(ranges.take(3, 4)).toBe(8); // pages 5-7 are padding
    expect(ranges.top).toBe(11);
    expect(ranges.freeRuns).toBe(1);
    expect(ranges.take(3, 1)).toBe(5); // the padding serves a request that fits it
    expect(ranges.freeRuns).toBe(0);
  });

  test("merges freed runs, so a run freed in pieces serves one request of its whole size", () => {
    const ranges = new VirtualRanges(0, 1000);
    const pieces = [ranges.take(2, 1), ranges.take(2, 1), ranges.take(2, 1), ranges.take(1, 1)];
    expect(pieces).toEqual([0, 2, 4, 6]);
    ranges.give(2, 2);
    ranges.give(0, 2);
    ranges.give(4, 2);
    expect(ranges.freeRuns).toBe(1);
    expect(ranges.take(6, 1)).toBe(0);
    expect(ranges.top).toBe(7);
  });

  test("a run given back at the top lowers the top, together with the free runs it then touches", () => {
    const ranges = new VirtualRanges(0, 1000);
    ranges.take(4, 1);
    const high = ranges.take(4, 64); // pages 4-63 become padding
    expect(high).toBe(64);
    ranges.give(64, 4);
    expect(ranges.top).toBe(4);
    expect(ranges.freeRuns).toBe(0);
  });

  test("returns -1 when no run and no room above the top fits, and changes nothing", () => {
    const ranges = new VirtualRanges(0, 16);
    expect(ranges.take(10, 1)).toBe(0);
    expect(ranges.take(4, 8)).toBe(-1); // 8 + 4 would fit, but 10..15 holds no run aligned to 8
    expect(ranges.top).toBe(10);
    expect(ranges.freeRuns).toBe(0);
    expect(ranges.take(6, 1)).toBe(10);
    expect(ranges.take(1, 1)).toBe(-1);
  });

  test("against a page-by-page model: every run handed out is free, aligned and in bounds, and a fitting request never fails", () => {
    const LIMIT = 256;
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("take" as const),
        pages: fc.integer({ min: 1, max: 40 }),
        align: fc.integer({ min: 1, max: 70 }),
      }),
      fc.record({ kind: fc.constant("give" as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const used = new Uint8Array(LIMIT);
        const taken: [number, number][] = [];
        const ranges = new VirtualRanges(0, LIMIT);
        for (const o of ops) {
          if (o.kind === "take") {
            const at = ranges.take(o.pages, o.align);
            let fits = false;
            for (let a = 0; a + o.pages <= LIMIT && !fits; a += o.align)
              fits = used.subarray(a, a + o.pages).every((u) => u === 0);
            if (at < 0) {
              expect(fits).toBe(false);
              continue;
            }
            expect(at % o.align).toBe(0);
            expect(at + o.pages).toBeLessThanOrEqual(LIMIT);
            expect(used.subarray(at, at + o.pages).every((u) => u === 0)).toBe(true);
            used.fill(1, at, at + o.pages);
            taken.push([at, o.pages]);
          } else if (taken.length > 0) {
            const [at, pages] = taken.splice(o.pick % taken.length, 1)[0]!;
            ranges.give(at, pages);
            used.fill(0, at, at + pages);
          }
          expect(ranges.top).toBe(used.lastIndexOf(1) + 1);
        }
      }),
      { numRuns: 300 },
    );
  });
});
