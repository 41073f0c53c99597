import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { MAX_SLAB_SIZE, SizeClasses } from "./classes.js";

const classes = new SizeClasses();

describe("size classes", () => {
  test("72 classes: 16-byte steps to 128 bytes, then 8 per power of two up to 32 KiB", () => {
    expect(classes.count).toBe(72);
    expect([...classes.user.slice(0, 10)]).toEqual([16, 32, 48, 64, 80, 96, 112, 128, 144, 160]);
    expect([...classes.user.slice(16, 25)]).toEqual([288, 320, 352, 384, 416, 448, 480, 512, 576]);
    expect(classes.user[classes.count - 1]).toBe(MAX_SLAB_SIZE);
    expect(classes.name(0)).toBe("kmalloc-16");
    expect(classes.name(33)).toBe("kmalloc-1.25k");
    expect(classes.name(71)).toBe("kmalloc-32k");
  });

  test("a request gets the smallest class that holds it, rounding up by at most 1/8 above 128 bytes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_SLAB_SIZE }), (size) => {
        const c = classes.of(size);
        expect(classes.user[c]).toBeGreaterThanOrEqual(size);
        if (c > 0) expect(classes.user[c - 1]).toBeLessThan(Math.max(size, 1));
        if (size > 128) expect(classes.user[c]! / size).toBeLessThanOrEqual(1.125);
      }),
      { numRuns: 2000 },
    );
    expect(classes.of(0)).toBe(0);
  });

  test("each slot is its user size plus the 16-byte header; each slab is the smallest of 1..8 pages within 2 points of the best tail waste", () => {
    for (let c = 0; c < classes.count; c++) {
      const slot = classes.slot[c]!;
      const pages = classes.pages[c]!;
      expect(slot).toBe(classes.user[c]! + 16);
      expect(slot % 16).toBe(0);
      expect(classes.perSlab[c]).toBe(Math.floor((pages * 4096) / slot));
      expect(classes.perSlab[c]).toBeGreaterThanOrEqual(1);
      const waste = (n: number) => ((n * 4096) % slot) / (n * 4096);
      const candidates = [1, 2, 3, 4, 5, 6, 7, 8, 9].filter((n) => n * 4096 >= slot && (n <= 8 || slot > 8 * 4096));
      const best = Math.min(...candidates.map(waste));
      expect(waste(pages)).toBeLessThanOrEqual(best + 0.02);
      for (const smaller of candidates.filter((n) => n < pages)) expect(waste(smaller)).toBeGreaterThan(best + 0.02);
    }
    expect(classes.pages[71]).toBe(9); // a 32 KiB object and its header need 9 pages
  });
});
