import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LevelBitmap } from "./level-bitmap.js";

describe("LevelBitmap", () => {
  it("agrees with a Set on set, clear, test, findLast and findLastBelow", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40_000 }),
        fc.array(fc.tuple(fc.boolean(), fc.nat(), fc.nat()), { maxLength: 300 }),
        (size, ops) => {
          const b = new LevelBitmap(size);
          const model = new Set<number>();
          for (const [set, i0, q] of ops) {
            const i = i0 % size;
            if (set) {
              b.set(i);
              model.add(i);
            } else {
              b.clear(i);
              model.delete(i);
            }
            expect(b.test(i)).toBe(model.has(i));
            const bound = q % (size + 2);
            let want = -1;
            for (const m of model) if (m < bound && m > want) want = m;
            expect(b.findLastBelow(bound)).toBe(want);
          }
          expect(b.findLast()).toBe(model.size === 0 ? -1 : Math.max(...model));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("answers false outside its range and finds nothing below 0", () => {
    const b = new LevelBitmap(100);
    b.set(99);
    expect(b.test(100)).toBe(false);
    expect(b.test(-1)).toBe(false);
    expect(b.findLastBelow(0)).toBe(-1);
    expect(b.findLastBelow(99)).toBe(-1);
    expect(b.findLastBelow(100)).toBe(99);
  });
});
