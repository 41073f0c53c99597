import { InvalidArgumentError } from "@ksim/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type FreeExtent, RangeAllocator } from "./range-allocator.js";

const PAGE = 0x1000;
/** The DMA window of x86-64 Hexahedron, in 48-bit linear form: addresses far above 2^32. */
const DMA_BASE = 0xf800_0000_0000;

function snapshot(r: RangeAllocator) {
  return {
    extents: r.freeExtents(),
    used: r.usedBytes,
    free: r.freeBytes,
    count: r.freeExtentCount,
    largest: r.largestFreeExtent,
  };
}

describe("RangeAllocator basics", () => {
  it("hands out consecutive ranges from the bottom of the window and coalesces them back into one extent", () => {
    const r = new RangeAllocator(DMA_BASE, 64 * PAGE);
    const a = r.allocate(PAGE);
    const b = r.allocate(3 * PAGE);
    const c = r.allocate(PAGE);
    expect([a, b, c]).toEqual([DMA_BASE, DMA_BASE + PAGE, DMA_BASE + 4 * PAGE]);
    expect(r.usedBytes).toBe(5 * PAGE);
    r.free(b, 3 * PAGE);
    expect(r.freeExtentCount).toBe(2);
    r.free(a, PAGE);
    expect(r.freeExtents()).toEqual([
      { base: DMA_BASE, size: 4 * PAGE },
      { base: DMA_BASE + 5 * PAGE, size: 59 * PAGE },
    ]);
    r.free(c, PAGE);
    expect(r.freeExtents()).toEqual([{ base: DMA_BASE, size: 64 * PAGE }]);
    expect(r.usedBytes).toBe(0);
    expect(r.largestFreeExtent).toBe(64 * PAGE);
  });

  it("reuses the lowest hole that fits (first fit) and skips holes that are too small", () => {
    const r = new RangeAllocator(0, 32 * PAGE);
    const blocks = [1, 2, 1, 4, 1].map((n) => r.allocate(n * PAGE));
    r.free(blocks[1]!, 2 * PAGE); // hole of 2 pages at 1
    r.free(blocks[3]!, 4 * PAGE); // hole of 4 pages at 4
    expect(r.allocate(3 * PAGE)).toBe(4 * PAGE);
    expect(r.allocate(2 * PAGE)).toBe(1 * PAGE);
    expect(r.allocate(PAGE)).toBe(7 * PAGE);
  });

  it("a hole that grows by merging is found by the next request of its new size", () => {
    for (const order of [
      [1, 2, 3],
      [3, 2, 1],
      [1, 3, 2],
      [2, 1, 3],
    ]) {
      const r = new RangeAllocator(0, 8 * PAGE);
      for (let i = 0; i < 8; i++) r.allocate(PAGE);
      for (const i of order) r.free(i * PAGE, PAGE);
      expect(r.largestFreeExtent).toBe(3 * PAGE);
      expect(r.allocate(3 * PAGE)).toBe(PAGE);
      expect(r.freeExtentCount).toBe(0);
    }
  });

  it("aligns ranges to absolute addresses", () => {
    const r = new RangeAllocator(PAGE, 64 * PAGE);
    expect(r.allocate(PAGE)).toBe(PAGE);
    expect(r.allocate(PAGE, 16 * PAGE)).toBe(16 * PAGE);
    expect(r.allocate(PAGE, 8 * PAGE)).toBe(8 * PAGE);
    expect(r.allocate(PAGE)).toBe(2 * PAGE);
  });

  it("keeps a range from crossing a boundary, moving it to the next boundary when needed", () => {
    const r = new RangeAllocator(0, 64 * PAGE);
    r.allocate(3 * PAGE);
    // 2 pages at 3 would cross the 4-page boundary at 4: the range goes to 4.
    expect(r.allocate(2 * PAGE, PAGE, 4 * PAGE)).toBe(4 * PAGE);
    // 1 page fits at 3 without crossing anything.
    expect(r.allocate(PAGE, PAGE, 4 * PAGE)).toBe(3 * PAGE);
    // A range as large as its boundary must start on one.
    expect(r.allocate(8 * PAGE, PAGE, 8 * PAGE)).toBe(8 * PAGE);
  });

  it("returns -1 when nothing fits and leaves the allocator unchanged", () => {
    const r = new RangeAllocator(0, 8 * PAGE);
    r.allocate(3 * PAGE);
    r.allocate(PAGE);
    r.free(0, PAGE);
    const before = snapshot(r);
    expect(r.allocate(5 * PAGE)).toBe(-1);
    expect(r.allocate(2 * PAGE, 8 * PAGE)).toBe(-1);
    expect(r.allocate(4 * PAGE, PAGE, 4 * PAGE)).toBe(4 * PAGE);
    r.free(4 * PAGE, 4 * PAGE);
    expect(snapshot(r)).toEqual(before);
    expect(r.allocate(PAGE)).toBe(0);
    expect(r.allocate(4 * PAGE)).toBe(4 * PAGE);
    expect(r.allocate(PAGE)).toBe(-1);
    expect(r.freeExtentCount).toBe(0);
    expect(r.largestFreeExtent).toBe(0);
  });

  it("can free part of an allocation, or several adjacent allocations at once", () => {
    const r = new RangeAllocator(0, 16 * PAGE);
    r.allocate(4 * PAGE);
    r.allocate(4 * PAGE);
    r.free(PAGE, 2 * PAGE);
    expect(r.isAllocated(0, PAGE)).toBe(true);
    expect(r.isAllocated(PAGE, PAGE)).toBe(false);
    r.free(3 * PAGE, 5 * PAGE);
    expect(r.freeExtents()).toEqual([{ base: PAGE, size: 15 * PAGE }]);
  });

  it("grows its node storage past the initial capacity (thousands of separate holes)", () => {
    const r = new RangeAllocator(DMA_BASE, 10_004 * PAGE);
    const addresses: number[] = [];
    for (let i = 0; i < 5000; i++) addresses.push(r.allocate(2 * PAGE));
    expect(r.freeExtents()).toEqual([{ base: DMA_BASE + 10_000 * PAGE, size: 4 * PAGE }]);
    for (let i = 0; i < 5000; i += 2) r.free(addresses[i]!, PAGE);
    expect(r.freeExtentCount).toBe(2501);
    expect(r.largestFreeExtent).toBe(4 * PAGE);
    // Freeing the second halves of even blocks: adjacent holes merge into 2-page holes.
    for (let i = 0; i < 5000; i += 2) r.free(addresses[i]! + PAGE, PAGE);
    expect(r.freeExtentCount).toBe(2501);
    expect(r.largestFreeExtent).toBe(4 * PAGE);
    expect(r.allocate(3 * PAGE)).toBe(DMA_BASE + 10_000 * PAGE);
    expect(r.allocate(2 * PAGE)).toBe(DMA_BASE);
    expect(r.usedBytes).toBe(2500 * 2 * PAGE + 5 * PAGE);
  });
});

describe("RangeAllocator bad input changes nothing", () => {
  const cases: Array<[string, (r: RangeAllocator) => unknown, RegExp]> = [
    ["allocate(NaN)", (r) => r.allocate(Number.NaN), /size = NaN: not a number/],
    ["allocate(-4096)", (r) => r.allocate(-PAGE), /negative|below the minimum/],
    ["allocate(0)", (r) => r.allocate(0), /below the minimum 1/],
    ["allocate(4096.5)", (r) => r.allocate(4096.5), /not an integer/],
    ["allocate(100)", (r) => r.allocate(100), /not a multiple of the granule 0x1000/],
    ["allocate(align 3)", (r) => r.allocate(PAGE, 3), /align = 3: not a power of two/],
    ["allocate(align NaN)", (r) => r.allocate(PAGE, Number.NaN), /align = NaN: not a power of two/],
    ["allocate(boundary 5000)", (r) => r.allocate(PAGE, PAGE, 5000), /boundary = 5000: not a power of two/],
    ["allocate(boundary < size)", (r) => r.allocate(2 * PAGE, PAGE, PAGE), /smaller than the size/],
    ["free(NaN)", (r) => r.free(Number.NaN, PAGE), /address = NaN/],
    ["free(size 0)", (r) => r.free(PAGE, 0), /size = 0/],
    ["free(misaligned)", (r) => r.free(PAGE + 1, PAGE), /not a multiple of the granule/],
    ["free(below window)", (r) => r.free(0, PAGE), /outside the window/],
    ["free(beyond window)", (r) => r.free(16 * PAGE, 2 * PAGE), /outside the window/],
    ["free(never allocated)", (r) => r.free(10 * PAGE, PAGE), /never allocated or is freed already/],
    ["free(straddling free space)", (r) => r.free(3 * PAGE, 2 * PAGE), /overlaps the free extent at 0x4000/],
  ];
  for (const [name, call, message] of cases) {
    it(`${name} throws InvalidArgumentError and leaves the allocator as it was`, () => {
      const r = new RangeAllocator(PAGE, 16 * PAGE);
      r.allocate(3 * PAGE); // [1, 4) used, [4, 17) free
      const before = snapshot(r);
      expect(() => call(r)).toThrow(InvalidArgumentError);
      expect(() => call(r)).toThrow(message);
      expect(snapshot(r)).toEqual(before);
    });
  }

  it("a double free throws and changes nothing", () => {
    const r = new RangeAllocator(0, 16 * PAGE);
    const a = r.allocate(2 * PAGE);
    r.allocate(PAGE);
    r.free(a, 2 * PAGE);
    const before = snapshot(r);
    expect(() => r.free(a, 2 * PAGE)).toThrow(/freed already/);
    expect(snapshot(r)).toEqual(before);
  });

  it("rejects a window that is empty, misaligned, or ends beyond 2^53", () => {
    expect(() => new RangeAllocator(0, 0)).toThrow(InvalidArgumentError);
    expect(() => new RangeAllocator(100, PAGE)).toThrow(/base = 100: not a multiple/);
    expect(() => new RangeAllocator(0, PAGE, { granule: 3 })).toThrow(/granule = 3/);
    expect(() => new RangeAllocator(2 ** 53 - PAGE, 2 * PAGE)).toThrow(/beyond 2\^53/);
  });
});

/** The reference: one boolean per granule, and first fit by brute force. */
class ReferenceModel {
  readonly used: boolean[];
  constructor(
    readonly base: number,
    readonly granules: number,
    readonly granule: number,
  ) {
    this.used = new Array<boolean>(granules).fill(false);
  }
  allocate(size: number, align: number, boundary: number): number {
    const n = size / this.granule;
    for (let i = 0; i + n <= this.granules; i++) {
      const address = this.base + i * this.granule;
      if (address % align !== 0) continue;
      if (boundary !== 0 && Math.floor(address / boundary) !== Math.floor((address + size - 1) / boundary)) continue;
      if (this.used.slice(i, i + n).some((u) => u)) continue;
      this.used.fill(true, i, i + n);
      return address;
    }
    return -1;
  }
  allAllocated(address: number, size: number): boolean {
    const i = (address - this.base) / this.granule;
    const n = size / this.granule;
    return i >= 0 && i + n <= this.granules && this.used.slice(i, i + n).every((u) => u);
  }
  free(address: number, size: number): void {
    const i = (address - this.base) / this.granule;
    this.used.fill(false, i, i + size / this.granule);
  }
  freeExtents(): FreeExtent[] {
    const out: FreeExtent[] = [];
    for (let i = 0; i < this.granules; ) {
      if (this.used[i]) {
        i++;
        continue;
      }
      let j = i;
      while (j < this.granules && !this.used[j]) j++;
      out.push({ base: this.base + i * this.granule, size: (j - i) * this.granule });
      i = j;
    }
    return out;
  }
}

type Command =
  | { op: "alloc"; granules: number; alignLog: number; boundaryLog: number | null }
  | { op: "free-live"; pick: number; part: "whole" | "head" | "tail" }
  | { op: "free-any"; offset: number; granules: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("alloc" as const),
      granules: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 9, max: 40 })),
      alignLog: fc.integer({ min: 0, max: 5 }),
      boundaryLog: fc.option(fc.integer({ min: 0, max: 6 }), { nil: null }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("free-live" as const),
      pick: fc.nat(),
      part: fc.constantFrom("whole" as const, "head" as const, "tail" as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("free-any" as const),
      offset: fc.integer({ min: -2, max: 100 }),
      granules: fc.integer({ min: 1, max: 6 }),
    }),
  },
);

describe("RangeAllocator against a reference model", () => {
  it("returns exactly the first-fit address, frees and coalesces as the model does, and reports exact figures", () => {
    const G = 16;
    const granules = 96;
    // The base is a multiple of 16 only, so alignment is tested against absolute addresses.
    const base = 0x7770;
    fc.assert(
      fc.property(fc.array(command, { maxLength: 120 }), (commands) => {
        const r = new RangeAllocator(base, granules * G, { granule: G });
        const model = new ReferenceModel(base, granules, G);
        const live: Array<{ address: number; size: number }> = [];
        for (const c of commands) {
          if (c.op === "alloc") {
            const size = c.granules * G;
            const align = G << c.alignLog;
            const boundaryBytes = c.boundaryLog === null ? 0 : G << c.boundaryLog;
            if (boundaryBytes !== 0 && boundaryBytes < size) {
              expect(() => r.allocate(size, align, boundaryBytes)).toThrow(InvalidArgumentError);
              continue;
            }
            const expected = model.allocate(size, align, boundaryBytes);
            expect(r.allocate(size, align, boundaryBytes)).toBe(expected);
            if (expected >= 0) live.push({ address: expected, size });
          } else if (c.op === "free-live") {
            if (live.length === 0) continue;
            const index = c.pick % live.length;
            const block = live[index]!;
            let { address, size } = block;
            if (c.part !== "whole" && size > G) {
              size = G;
              if (c.part === "tail") address = block.address + block.size - G;
            }
            if (model.allAllocated(address, size)) {
              r.free(address, size);
              model.free(address, size);
            } else {
              expect(() => r.free(address, size)).toThrow(InvalidArgumentError);
            }
            live.splice(index, 1);
          } else {
            const address = base + c.offset * G;
            const size = c.granules * G;
            if (model.allAllocated(address, size)) {
              r.free(address, size);
              model.free(address, size);
            } else {
              const before = snapshot(r);
              expect(() => r.free(address, size)).toThrow(InvalidArgumentError);
              expect(snapshot(r)).toEqual(before);
            }
          }
          r.checkInvariants();
          const extents = model.freeExtents();
          expect(r.freeExtents()).toEqual(extents);
          const free = extents.reduce((s, e) => s + e.size, 0);
          expect(r.freeBytes).toBe(free);
          expect(r.usedBytes).toBe(granules * G - free);
          expect(r.freeExtentCount).toBe(extents.length);
          expect(r.largestFreeExtent).toBe(extents.reduce((m, e) => Math.max(m, e.size), 0));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("never hands out overlapping ranges and gets everything back, in a large window above 2^47", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 64 }), fc.boolean(), fc.nat()), { minLength: 1, maxLength: 300 }),
        (steps) => {
          const r = new RangeAllocator(DMA_BASE, 4096 * PAGE);
          const live: Array<[number, number]> = [];
          for (const [pages, allocate, pick] of steps) {
            if (allocate || live.length === 0) {
              const a = r.allocate(pages * PAGE, PAGE << (pick % 4));
              if (a < 0) continue;
              for (const [b, s] of live) expect(a + pages * PAGE <= b || b + s <= a).toBe(true);
              live.push([a, pages * PAGE]);
            } else {
              const [a, s] = live.splice(pick % live.length, 1)[0]!;
              r.free(a, s);
            }
          }
          r.checkInvariants();
          expect(r.usedBytes).toBe(live.reduce((s, [, size]) => s + size, 0));
          for (const [a, s] of live) r.free(a, s);
          expect(r.freeExtents()).toEqual([{ base: DMA_BASE, size: 4096 * PAGE }]);
        },
      ),
      { numRuns: 100 },
    );
  });
});
