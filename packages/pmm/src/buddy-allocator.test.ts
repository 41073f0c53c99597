import { type FirmwareMemoryMap, FrameError, InvalidArgumentError, MemoryRegionType, PAGE_SIZE } from "@ksim/core";
import { Machine } from "@ksim/machine";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BuddyAllocator, type BuddySnapshot } from "./buddy-allocator.js";
import { SMALL_MAP, SPLIT_MAP } from "./conformance.js";
import { deepEqual, type ModelOp, ReferenceModel, releaseEverything, runModelOps } from "./reference-model.js";

const MiB = 0x10_0000;
const GiB = 0x4000_0000;
const TiB = 2 ** 40;
const { Usable, Reserved, AcpiNvs } = MemoryRegionType;

/** A PC-like map: low RAM to 3 GiB, the PCI hole, the rest from 4 GiB. */
function pcMap(ram: number): FirmwareMemoryMap {
  const low = Math.min(ram, 3 * GiB);
  const map = [
    { base: 0, length: MiB, type: Reserved },
    { base: MiB, length: low - MiB - 0x2_0000, type: Usable },
    { base: low - 0x2_0000, length: 0x2_0000, type: AcpiNvs },
    { base: 0xfec0_0000, length: 0x140_0000, type: Reserved },
  ];
  if (ram > low) map.push({ base: 4 * GiB, length: ram - low, type: Usable });
  return map;
}

/** The free lists only (bitmaps and per-zone counts), without per-frame history. */
const freeLists = (s: BuddySnapshot) => ({ bitmaps: s.bitmaps, zoneBlocks: s.zoneBlocks });

const opArb: fc.Arbitrary<ModelOp> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: "allocFrame" as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("allocate" as const),
      count: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 600 })),
      alignShift: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 10 })),
      limitMiB: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 })),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("free" as const),
      pick: fc.nat(),
      offset: fc.nat(16),
      length: fc.integer({ min: 1, max: 700 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("badFree" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reserve" as const),
      pick: fc.nat(),
      length: fc.integer({ min: 1, max: 64 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("unreserve" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("retain" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }) },
);

describe("BuddyAllocator against a Set-based model (fast-check)", () => {
  for (const [label, options] of [
    ["with the frame cache", {}],
    ["without the frame cache", { frameCache: 0 }],
    ["with max order 4 (runs larger than a block take the stretch path)", { maxOrder: 4, frameCache: 8 }],
  ] as const) {
    it(`never hands a frame out twice or outside usable RAM, and freeing everything restores the initial free lists (${label})`, () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 50, maxLength: 400 }), (ops) => {
          const a = new BuddyAllocator(SMALL_MAP, options);
          const initial = a.snapshot();
          const model = new ReferenceModel(SMALL_MAP);
          runModelOps(a, model, ops, () => a.snapshot());
          releaseEverything(a, model);
          a.drainFrameCache();
          expect(deepEqual(freeLists(a.snapshot()), freeLists(initial))).toBe(true);
          expect(a.stats()).toEqual(new BuddyAllocator(SMALL_MAP).stats());
          // Every free frame is allocatable, one by one.
          const got = new Set<number>();
          for (let x = a.allocFrame(); x !== 0; x = a.allocFrame()) got.add(x / PAGE_SIZE);
          expect(got).toEqual(model.usable);
        }),
        { numRuns: 25 },
      );
    });
  }
});

describe("BuddyAllocator: buddy behaviour", () => {
  it("gives the unused tail of a larger block straight back (3 frames cost 3, not 4)", () => {
    const a = new BuddyAllocator(SMALL_MAP, { frameCache: 0 });
    const free = a.stats().freeFrames;
    for (const count of [3, 5, 129, 1000]) {
      const before = a.stats().freeFrames;
      const r = a.allocate({ count });
      expect(r.ok).toBe(true);
      expect(a.stats().freeFrames).toBe(before - count);
    }
    expect(a.stats().freeFrames).toBe(free - 1137);
  });

  it("coalesces freed buddies back into the blocks it started with", () => {
    const a = new BuddyAllocator(SMALL_MAP, { frameCache: 0 });
    const initial = a.buddyInfo();
    const runs = [1, 2, 3, 64, 7].map((count) => a.allocate({ count }));
    expect(a.buddyInfo()).not.toEqual(initial);
    for (const r of runs.reverse()) if (r.ok) a.free(r.address, r.count);
    expect(a.buddyInfo()).toEqual(initial);
  });

  it("serves ordinary allocations from Normal first, then DMA32, keeping DMA (below 16 MiB) for last", () => {
    const a = new BuddyAllocator(pcMap(4 * GiB + 64 * MiB), { frameCache: 0 });
    const x = a.allocFrame();
    expect(x).toBeGreaterThanOrEqual(4 * GiB);
    const big = a.allocate({ count: (64 * MiB) / PAGE_SIZE });
    expect(big).toMatchObject({ ok: true });
    expect(a.allocFrame()).toBeGreaterThanOrEqual(16 * MiB); // Normal is full: DMA32 next
    const isa = a.allocate({ count: 2, limit: 16 * MiB });
    expect(isa.ok && isa.address + 2 * PAGE_SIZE <= 16 * MiB).toBe(true);
    const [dma, dma32, normal] = a.buddyInfo();
    expect([dma?.zone, dma32?.zone, normal?.zone]).toEqual(["DMA", "DMA32", "Normal"]);
  });

  it("finds a run below a limit without taking blocks above it (2 MiB-aligned, below 4 GiB)", () => {
    const a = new BuddyAllocator(pcMap(8 * GiB));
    for (let i = 0; i < 20; i++) {
      const r = a.allocate({ count: 3, align: 2 * MiB, limit: 2 ** 32 });
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(r.address % (2 * MiB)).toBe(0);
      expect(r.address + 3 * PAGE_SIZE).toBeLessThanOrEqual(2 ** 32);
    }
  });

  it("allocates a run larger than any one free block from adjacent blocks (the stretch path)", () => {
    // Usable [1 MiB, 2 GiB): no aligned 2 GiB block exists, yet 1.5 GiB is contiguous and free.
    const map = [{ base: MiB, length: 2 * GiB - MiB, type: Usable }] as const;
    const a = new BuddyAllocator(map);
    const count = (1.5 * GiB) / PAGE_SIZE;
    const r = a.allocate({ count });
    expect(r).toMatchObject({ ok: true, count });
    if (!r.ok) return;
    expect(r.address + count * PAGE_SIZE).toBeLessThanOrEqual(2 * GiB);
    expect(a.stats().freeFrames).toBe(a.stats().usableFrames - count);
    a.free(r.address, count);
    expect(a.stats().usedFrames).toBe(0);
    expect(a.buddyInfo()).toEqual(new BuddyAllocator(map).buddyInfo());
  });

  it("with a small max order, still serves runs spanning several blocks", () => {
    const a = new BuddyAllocator(SMALL_MAP, { maxOrder: 2 });
    const r = a.allocate({ count: 1000, align: 64 * 1024 });
    expect(r.ok && r.address % (64 * 1024) === 0).toBe(true);
  });

  it("a failed request after draining the frame cache puts the cache back byte for byte", () => {
    const a = new BuddyAllocator(SMALL_MAP);
    const all: number[] = [];
    for (let x = a.allocFrame(); x !== 0; x = a.allocFrame()) all.push(x);
    const xs = all.filter((x) => x >= 2 * MiB && x < 3 * MiB).sort((p, q) => p - q);
    // Free every other frame of a stretch, through the cache: no two free frames are adjacent.
    for (let i = 0; i < 40; i += 2) a.free(xs[i]!);
    expect(a.cachedFrames).toBeGreaterThan(0);
    const before = a.snapshot();
    const r = a.allocate({ count: 2 });
    expect(r).toMatchObject({ ok: false, reason: "no-fit" });
    expect(deepEqual(a.snapshot(), before)).toBe(true);
    // Free the neighbours too: now a drain lets a 2-frame run through.
    a.free(xs[1]!);
    const ok = a.allocate({ count: 2 });
    expect(ok.ok).toBe(true);
  });

  it("in memory fragmented into isolated frames, a run that fits nowhere is no-fit and changes nothing", () => {
    const a = new BuddyAllocator(SMALL_MAP);
    for (let count = 1 << 12; count >= 2; count >>>= 1) {
      for (let r = a.allocate({ count }); r.ok; r = a.allocate({ count })) {
        for (let i = 0; i < count; i += 2) a.free(r.address + i * PAGE_SIZE, 1);
      }
    }
    expect(a.stats().freeFrames).toBeGreaterThan(3000);
    const before = a.snapshot();
    expect(a.allocate({ count: 2 })).toMatchObject({ ok: false, reason: "no-fit" });
    expect(a.allocate({ count: 3, limit: 16 * MiB })).toMatchObject({ ok: false, reason: "no-fit" });
    expect(deepEqual(a.snapshot(), before)).toBe(true);
    expect(a.allocFrame()).not.toBe(0);
  });

  it("keeps exact reference counts past the 12-bit field (an overflow table takes over)", () => {
    const a = new BuddyAllocator(SMALL_MAP);
    const x = a.allocFrame();
    for (let i = 2; i <= 5000; i++) expect(a.retain(x)).toBe(i);
    expect(a.refCount(x)).toBe(5000);
    for (let i = 4999; i >= 1; i--) expect(a.release(x)).toBe(i);
    expect(a.refCount(x)).toBe(1);
    a.free(x);
    expect(a.stats().usedFrames).toBe(0);
  });

  it("reserves a range that holds cached frames, and carves it out of the free blocks", () => {
    const a = new BuddyAllocator(SMALL_MAP);
    const r = a.allocate({ count: 1, limit: 4 * MiB });
    if (!r.ok) throw new Error(r.message);
    const x = r.address;
    a.free(x); // a single frame goes to the frame cache
    expect(a.cachedFrames).toBe(1);
    a.reserve(x - 4 * PAGE_SIZE, 9 * PAGE_SIZE);
    expect(a.stats().reservedFrames).toBe(9);
    const seen = new Set<number>();
    for (let y = a.allocFrame(); y !== 0; y = a.allocFrame()) seen.add(y);
    for (let i = -4; i <= 4; i++) expect(seen.has(x + i * PAGE_SIZE)).toBe(false);
  });

  it("rejects bad options and bad memory maps with InvalidArgumentError", () => {
    expect(() => new BuddyAllocator(SMALL_MAP, { maxOrder: 31 })).toThrow(InvalidArgumentError);
    expect(() => new BuddyAllocator(SMALL_MAP, { frameCache: -1 })).toThrow(InvalidArgumentError);
    expect(() => new BuddyAllocator([{ base: -1, length: 10, type: Usable }])).toThrow(InvalidArgumentError);
    expect(() => new BuddyAllocator([{ base: 0, length: 8 * TiB, type: Usable }])).toThrow(/4 TiB/);
  });

  it("an empty or all-reserved map gives an allocator with nothing to hand out", () => {
    const a = new BuddyAllocator([{ base: 0, length: MiB, type: Usable }]);
    expect(a.allocFrame()).toBe(0);
    expect(a.allocate({ count: 1 })).toMatchObject({ ok: false, reason: "out-of-memory" });
    expect(a.stats()).toMatchObject({ usableFrames: 0, freeFrames: 0 });
  });
});

describe("BuddyAllocator: rejected calls leave the metadata byte-identical", () => {
  const cases: [string, (a: BuddyAllocator, x: number) => unknown, typeof FrameError | typeof InvalidArgumentError][] =
    [
      ["setRegionAvailable over an allocated frame", (a, x) => a.setRegionAvailable(x, PAGE_SIZE, false), FrameError],
      [
        "setRegionAvailable with a misaligned base",
        (a) => a.setRegionAvailable(20 * MiB + 1, PAGE_SIZE, false),
        FrameError,
      ],
      [
        "setRegionAvailable with a fractional size",
        (a) => a.setRegionAvailable(20 * MiB, 0.5, true),
        InvalidArgumentError,
      ],
      ["refCount of NaN", (a) => a.refCount(Number.NaN), InvalidArgumentError],
      ["refCount of a misaligned address", (a, x) => a.refCount(x + 4), FrameError],
      ["allocate with a non-object request", (a) => a.allocate(5 as never), InvalidArgumentError],
      ["allocate with a NaN limit", (a) => a.allocate({ limit: Number.NaN }), InvalidArgumentError],
      ["free of a run crossing a hole", (a) => a.free(8 * MiB - PAGE_SIZE, 2), FrameError],
      [
        "reserve above the physical address space",
        (a) => a.reserve(2 ** 52 - PAGE_SIZE, 2 * PAGE_SIZE),
        InvalidArgumentError,
      ],
    ];
  for (const [name, call, type] of cases) {
    it(`${name} throws ${type.name} and changes nothing`, () => {
      const a = new BuddyAllocator(SMALL_MAP);
      const x = a.allocFrame();
      a.allocate({ count: 5 });
      const before = a.snapshot();
      expect(() => call(a, x)).toThrow(type);
      expect(deepEqual(a.snapshot(), before)).toBe(true);
    });
  }

  it("errors name the frame and the problem", () => {
    const a = new BuddyAllocator(SMALL_MAP);
    const x = a.allocFrame();
    a.free(x);
    expect(() => a.free(x)).toThrow(`frame 0x${x.toString(16).toUpperCase()}: double free`);
    expect(() => a.free(0x1000)).toThrow("frame 0x1000: is not usable RAM");
    expect(() => a.free(x, 0)).toThrow("count = 0: size must be at least 1");
  });
});

describe("BuddyAllocator at scale", () => {
  it("initialises a 1 TiB machine and allocates, frees and coalesces across it", () => {
    const a = new BuddyAllocator(pcMap(TiB));
    const s = a.stats();
    expect(s.usableFrames).toBeGreaterThan((TiB / PAGE_SIZE) * 0.99);
    expect(s.freeFrames).toBe(s.usableFrames);
    // Metadata of a fresh 1 TiB machine: the per-order bitmaps only (about 2 bits per frame), no per-frame table.
    expect(a.metadataBytes()).toBeLessThan(80 * MiB);
    const top = a.allocFrame();
    expect(top).toBe(1024 * GiB + GiB - PAGE_SIZE); // the highest frame: RAM ends at 1 TiB + 1 GiB (hole remap)
    const huge = a.allocate({ count: (16 * GiB) / PAGE_SIZE + 3, align: GiB });
    expect(huge).toMatchObject({ ok: true });
    const dma = a.allocate({ count: 16, limit: 2 ** 32 });
    expect(dma.ok && dma.address < 2 ** 32).toBe(true);
    if (huge.ok) a.free(huge.address, huge.count);
    if (dma.ok) a.free(dma.address, dma.count);
    a.free(top);
    a.drainFrameCache();
    expect(a.buddyInfo()).toEqual(new BuddyAllocator(pcMap(TiB)).buddyInfo());
  });

  it("initialises from the firmware map of a ksim Machine", () => {
    const machine = new Machine({ ramSize: 6 * GiB });
    const a = new BuddyAllocator(machine.firmwareMemoryMap);
    const s = a.stats();
    expect(s.usableFrames).toBeGreaterThan((6 * GiB * 0.99) / PAGE_SIZE);
    expect(a.isManaged(0)).toBe(false);
    expect(a.isManaged(4 * GiB)).toBe(true);
    const r = a.allocate({ count: 4, limit: 2 ** 32 });
    expect(r.ok && r.address + 4 * PAGE_SIZE <= 2 ** 32).toBe(true);
  });
});

describe("BuddyAllocator: views", () => {
  it("prints /proc/buddyinfo lines for populated zones only", () => {
    const a = new BuddyAllocator(SPLIT_MAP);
    const lines = a.formatBuddyInfo().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^Node 0, zone {6}DMA( +\d+)+$/);
    expect(lines[1]).toMatch(/^Node 0, zone {3}Normal( +\d+)+$/);
    const normal = a.buddyInfo()[1]!;
    // 8 MiB above 4 GiB is one free block of order 11.
    expect(normal.freeBlocks[11]).toBe(1);
    expect(normal.freeBlocks.reduce((n, c) => n + c, 0)).toBe(1);
  });

  it("dumps the firmware map, each usable range's use, the buddy lists and totals", () => {
    const a = new BuddyAllocator(SMALL_MAP);
    a.allocate({ count: 10 });
    a.reserve(2 * MiB, 3 * PAGE_SIZE);
    const text = a.dump();
    expect(text).toContain("[mem 0x0000000000800000-0x000000000080FFFF] ACPI data");
    expect(text).toContain(
      "[mem 0x0000000000100000-0x00000000007FFFFF] 1792 frames: 1789 free, 0 allocated, 3 reserved",
    );
    expect(text).toMatch(/frames: \d+ total, 7919 usable, 7906 free, 13 used \(3 reserved\)/);
    const regions = a.regions();
    expect(regions.reduce((n, r) => n + r.free, 0)).toBe(a.stats().freeFrames);
    expect(regions.reduce((n, r) => n + r.allocated, 0)).toBe(10);
  });
});
