import {
  type FirmwareMemoryMap,
  type FrameAllocator,
  FrameError,
  type FrameProblem,
  InvalidArgumentError,
  MemoryRegionType,
  PAGE_SIZE,
} from "@ksim/core";
import { describe, expect, it } from "vitest";
import {
  deepEqual,
  ReferenceModel,
  randomOps,
  releaseEverything,
  runModelOps,
  seededRandom,
  usableFrames,
} from "./reference-model.js";

export {
  deepEqual,
  type ModelOp,
  ReferenceModel,
  randomOps,
  releaseEverything,
  runModelOps,
  seededRandom,
  usableFrames,
} from "./reference-model.js";

const MiB = 0x10_0000;
const GiB = 0x4000_0000;
const { Usable, Reserved, AcpiReclaimable } = MemoryRegionType;

/**
 * A small PC-like map (about 31 MiB): low memory below the EBDA, the reserved rest of the first MiB, an ACPI table
 * area, a reserved entry that covers only part of a frame, and a usable entry that starts mid-frame.
 */
export const SMALL_MAP: FirmwareMemoryMap = [
  { base: 0, length: 0x9_fc00, type: Usable },
  { base: 0x9_fc00, length: MiB - 0x9_fc00, type: Reserved },
  { base: MiB, length: 7 * MiB, type: Usable },
  { base: 8 * MiB, length: 0x1_0000, type: AcpiReclaimable },
  { base: 8 * MiB + 0x1_0000, length: 16 * MiB - 0x1_0000, type: Usable },
  { base: 24 * MiB, length: 0x800, type: Reserved },
  { base: 24 * MiB + 0x800, length: 8 * MiB - 0x800, type: Usable },
];

/** RAM below 16 MiB and just above 4 GiB, with a PCI hole between: for limit tests. */
export const SPLIT_MAP: FirmwareMemoryMap = [
  { base: MiB, length: 15 * MiB, type: Usable },
  { base: 0xfec0_0000, length: 0x140_0000, type: Reserved },
  { base: 4 * GiB, length: 8 * MiB, type: Usable },
];

/** Options of {@link describeFrameAllocatorConformance}. */
export interface ConformanceOptions {
  /** Captures implementation metadata; when given, every rejected call is checked to leave it byte-identical. */
  readonly snapshot?: (allocator: FrameAllocator) => unknown;
  /** Steps per random model run (3 runs). Default 1500. */
  readonly steps?: number;
}

/**
 * Registers a vitest suite that holds any {@link FrameAllocator} to the contract of `@ksim/core`: built by
 * `factory` from a firmware memory map, it must hand out only usable RAM, each frame once, honour counts,
 * alignment and limits, report exhaustion as a value, reject bad frees and bad arguments with typed errors that
 * change nothing, and agree with a Set-based reference model over long random sequences.
 */
export function describeFrameAllocatorConformance(
  name: string,
  factory: (map: FirmwareMemoryMap) => FrameAllocator,
  options: ConformanceOptions = {},
): void {
  const steps = options.steps ?? 1500;

  /** Runs `action`, expects it to throw `type` (and problem), and checks nothing changed. */
  const expectRejected = (
    a: FrameAllocator,
    action: () => unknown,
    type: typeof FrameError | typeof InvalidArgumentError,
    problems?: readonly FrameProblem[],
  ): void => {
    const snap = options.snapshot?.(a);
    const stats = a.stats();
    let error: unknown;
    try {
      action();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(type);
    if (problems !== undefined) expect(problems).toContain((error as FrameError).problem);
    expect(a.stats()).toEqual(stats);
    if (snap !== undefined) expect(deepEqual(snap, options.snapshot!(a))).toBe(true);
  };

  /** The first address from 9 MiB up where `frames` managed frames in a row are free (refCount 0). */
  const freeStretch = (a: FrameAllocator, frames: number): number => {
    for (let base = 9 * MiB; base < 32 * MiB; base += PAGE_SIZE) {
      let n = 0;
      while (n < frames && a.isManaged(base + n * PAGE_SIZE) && a.refCount(base + n * PAGE_SIZE) === 0) n++;
      if (n === frames) return base;
    }
    throw new Error(`no ${frames} free frames in a row`);
  };

  const drainAll = (a: FrameAllocator): number[] => {
    const out: number[] = [];
    for (let x = a.allocFrame(); x !== 0; x = a.allocFrame()) out.push(x);
    return out;
  };

  describe(`FrameAllocator conformance: ${name}`, () => {
    it("hands out every usable frame exactly once (never the first MiB or a reserved entry), then returns 0", () => {
      const a = factory(SMALL_MAP);
      const usable = usableFrames(SMALL_MAP);
      expect(a.stats().usableFrames).toBe(usable.size);
      const got = drainAll(a);
      expect(got.length).toBe(usable.size);
      expect(new Set(got).size).toBe(got.length);
      for (const x of got) {
        expect(x % PAGE_SIZE).toBe(0);
        expect(usable.has(x / PAGE_SIZE)).toBe(true);
      }
      expect(a.stats().freeFrames).toBe(0);
    });

    it("at exhaustion allocFrame returns 0 and allocate reports out-of-memory, changing nothing", () => {
      const a = factory(SMALL_MAP);
      drainAll(a);
      const snap = options.snapshot?.(a);
      const stats = a.stats();
      expect(a.allocFrame()).toBe(0);
      const r = a.allocate({ count: 2 });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toBe("out-of-memory");
      expect(a.stats()).toEqual(stats);
      if (snap !== undefined) expect(deepEqual(snap, options.snapshot!(a))).toBe(true);
    });

    it("asking for more frames than are free is out-of-memory and changes nothing", () => {
      const a = factory(SMALL_MAP);
      const stats = a.stats();
      const r = a.allocate({ count: stats.freeFrames + 1 });
      expect(r).toMatchObject({ ok: false, reason: "out-of-memory" });
      expect(a.stats()).toEqual(stats);
    });

    it("keeps usable = free + used, with reserved frames counted as used", () => {
      const a = factory(SMALL_MAP);
      const check = () => {
        const s = a.stats();
        expect(s.freeFrames + s.usedFrames).toBe(s.usableFrames);
        expect(s.reservedFrames).toBeLessThanOrEqual(s.usedFrames);
        expect(s.frameSize).toBe(PAGE_SIZE);
        expect(s.totalFrames).toBeGreaterThanOrEqual(s.usableFrames);
      };
      check();
      a.allocFrame();
      a.allocate({ count: 5 });
      check();
      a.reserve(freeStretch(a, 3), 3 * PAGE_SIZE);
      check();
      expect(a.stats().reservedFrames).toBe(3);
      expect(a.stats().usedFrames).toBe(9);
    });

    it("gives runs of any length (not only powers of two) that are contiguous, usable and disjoint", () => {
      const a = factory(SMALL_MAP);
      const model = new ReferenceModel(SMALL_MAP);
      for (const count of [1, 2, 3, 5, 7, 13, 100, 257, 511, 1000]) {
        const r = a.allocate({ count });
        expect(r.ok).toBe(true);
        if (!r.ok) continue;
        expect(r.count).toBe(count);
        for (let f = r.address / PAGE_SIZE; f < r.address / PAGE_SIZE + count; f++) expect(model.isFree(f)).toBe(true);
        model.allocate(r.address / PAGE_SIZE, count);
      }
      model.checkStats(a);
    });

    it("aligns a run to the requested power of two (2 MiB for a large page)", () => {
      const a = factory(SMALL_MAP);
      a.allocFrame();
      for (const align of [2 * PAGE_SIZE, 64 * 1024, 2 * MiB]) {
        const r = a.allocate({ count: 3, align });
        expect(r.ok).toBe(true);
        if (r.ok) expect(r.address % align).toBe(0);
      }
    });

    it("keeps a run at or below its limit: 4 GiB for 32-bit DMA, 16 MiB for ISA; too low a limit is no-fit", () => {
      const a = factory(SPLIT_MAP);
      for (const limit of [2 ** 32, 16 * MiB, 2 * MiB]) {
        const r = a.allocate({ count: 5, limit });
        expect(r.ok).toBe(true);
        if (r.ok) expect(r.address + 5 * PAGE_SIZE).toBeLessThanOrEqual(limit);
      }
      const stats = a.stats();
      const low = a.allocate({ count: 1, limit: MiB });
      expect(low).toMatchObject({ ok: false, reason: "no-fit" });
      expect(a.stats()).toEqual(stats);
      // Without a limit, memory above 4 GiB is usable too.
      const all = drainAll(a);
      expect(all.some((x) => x >= 4 * GiB)).toBe(true);
    });

    it("frees a run so its frames can be allocated again", () => {
      const a = factory(SMALL_MAP);
      const before = a.stats();
      const r = a.allocate({ count: 37 });
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      a.free(r.address, 37);
      expect(a.stats()).toEqual(before);
      const again = drainAll(a);
      for (let i = 0; i < 37; i++) expect(again).toContain(r.address + i * PAGE_SIZE);
    });

    it("frees part of a run (head, middle, tail): only those frames; the rest stays allocated", () => {
      const a = factory(SMALL_MAP);
      const r = a.allocate({ count: 8 });
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const at = (i: number) => r.address + i * PAGE_SIZE;
      a.free(at(2), 3);
      expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => a.refCount(at(i)))).toEqual([1, 1, 0, 0, 0, 1, 1, 1]);
      a.free(at(0), 2);
      a.free(at(6), 2);
      a.free(at(5), 1);
      expect(a.stats().usedFrames).toBe(0);
    });

    it("rejects a free that spans two allocations (count-mismatch) and changes nothing", () => {
      const a = factory(SMALL_MAP);
      const r = a.allocate({ count: 8 });
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const hole = r.address + 3 * PAGE_SIZE;
      a.free(hole, 1);
      // Allocate single frames until the freed one comes back: three adjacent allocations.
      const taken: number[] = [];
      for (let x = a.allocFrame(); x !== 0 && x !== hole; x = a.allocFrame()) taken.push(x);
      expect(a.refCount(hole)).toBe(1);
      expectRejected(a, () => a.free(r.address, 4), FrameError, ["count-mismatch"]);
      expectRejected(a, () => a.free(hole, 2), FrameError, ["count-mismatch"]);
      a.free(r.address, 3);
      a.free(hole, 1);
      a.free(hole + PAGE_SIZE, 4);
    });

    it("rejects a double free (double-free) and changes nothing", () => {
      const a = factory(SMALL_MAP);
      const x = a.allocFrame();
      a.free(x);
      expectRejected(a, () => a.free(x), FrameError, ["double-free"]);
      const r = a.allocate({ count: 4 });
      if (!r.ok) throw new Error(r.message);
      a.free(r.address, 4);
      expectRejected(a, () => a.free(r.address, 4), FrameError, ["double-free"]);
    });

    it("rejects freeing a frame that was never allocated (not-allocated) and changes nothing", () => {
      const a = factory(SMALL_MAP);
      expectRejected(a, () => a.free(20 * MiB), FrameError, ["not-allocated"]);
      expectRejected(a, () => a.release(20 * MiB), FrameError, ["not-allocated"]);
      expectRejected(a, () => a.retain(20 * MiB), FrameError, ["not-allocated"]);
    });

    it("rejects freeing a reserved frame (reserved) and changes nothing", () => {
      const a = factory(SMALL_MAP);
      a.reserve(12 * MiB, 2 * PAGE_SIZE);
      expectRejected(a, () => a.free(12 * MiB), FrameError, ["reserved"]);
      expectRejected(a, () => a.free(12 * MiB + PAGE_SIZE, 1), FrameError, ["reserved"]);
    });

    it("rejects misaligned and out-of-RAM addresses with a FrameError naming the problem", () => {
      const a = factory(SMALL_MAP);
      const x = a.allocFrame();
      expectRejected(a, () => a.free(x + 8), FrameError, ["misaligned"]);
      expectRejected(a, () => a.retain(x + 1), FrameError, ["misaligned"]);
      expectRejected(a, () => a.free(0x1000), FrameError, ["not-usable-ram"]);
      expectRejected(a, () => a.free(8 * MiB), FrameError, ["not-usable-ram"]);
      expectRejected(a, () => a.free(2 ** 40), FrameError, ["out-of-range", "not-usable-ram"]);
      expectRejected(a, () => a.free(x, 2 ** 30), FrameError, ["out-of-range", "not-usable-ram"]);
    });

    it("rejects NaN, negative, fractional and zero arguments with InvalidArgumentError, changing nothing", () => {
      const a = factory(SMALL_MAP);
      const x = a.allocFrame();
      for (const bad of [Number.NaN, -4096, 4096.5, Number.POSITIVE_INFINITY]) {
        expectRejected(a, () => a.free(bad), InvalidArgumentError);
        expectRejected(a, () => a.free(x, bad), InvalidArgumentError);
        expectRejected(a, () => a.allocate({ count: bad }), InvalidArgumentError);
        expectRejected(a, () => a.retain(bad), InvalidArgumentError);
        expectRejected(a, () => a.release(bad), InvalidArgumentError);
        expectRejected(a, () => a.reserve(bad, PAGE_SIZE), InvalidArgumentError);
        expectRejected(a, () => a.reserve(20 * MiB, bad), InvalidArgumentError);
        expectRejected(a, () => a.unreserve(bad, PAGE_SIZE), InvalidArgumentError);
      }
      expectRejected(a, () => a.free(x, 0), InvalidArgumentError);
      expectRejected(a, () => a.allocate({ count: 0 }), InvalidArgumentError);
      expectRejected(a, () => a.allocate({ align: 3 * PAGE_SIZE }), InvalidArgumentError);
      expectRejected(a, () => a.allocate({ limit: -1 }), InvalidArgumentError);
      expectRejected(a, () => a.reserve(20 * MiB, 0), InvalidArgumentError);
      expect(a.refCount(x)).toBe(1);
    });

    it("never hands out reserved frames, and gives them back on unreserve", () => {
      const a = factory(SMALL_MAP);
      const base = 10 * MiB;
      a.reserve(base + 100, 5 * PAGE_SIZE); // widened to whole frames: 6 frames
      expect(a.stats().reservedFrames).toBe(6);
      const got = new Set(drainAll(a));
      for (let i = 0; i < 6; i++) expect(got.has(base + i * PAGE_SIZE)).toBe(false);
      for (const x of got) a.free(x);
      a.unreserve(base + 100, 5 * PAGE_SIZE);
      expect(a.stats().reservedFrames).toBe(0);
      const again = new Set(drainAll(a));
      for (let i = 0; i < 6; i++) expect(again.has(base + i * PAGE_SIZE)).toBe(true);
    });

    it("refuses to reserve allocated or already reserved frames or non-RAM, and to unreserve free ones", () => {
      const a = factory(SMALL_MAP);
      const x = a.allocFrame();
      expectRejected(a, () => a.reserve(x, PAGE_SIZE), FrameError, ["in-use"]);
      const base = freeStretch(a, 6);
      a.reserve(base, 4 * PAGE_SIZE);
      expectRejected(a, () => a.reserve(base + 3 * PAGE_SIZE, 2 * PAGE_SIZE), FrameError, ["reserved"]);
      expectRejected(a, () => a.reserve(8 * MiB, PAGE_SIZE), FrameError, ["not-usable-ram"]);
      expectRejected(a, () => a.unreserve(base, 5 * PAGE_SIZE), FrameError, ["not-reserved"]);
      expectRejected(a, () => a.unreserve(base + 5 * PAGE_SIZE, PAGE_SIZE), FrameError, ["not-reserved"]);
    });

    it("counts references: a retained frame survives one release, cannot be freed while shared, frees at 0", () => {
      const a = factory(SMALL_MAP);
      const x = a.allocFrame();
      expect(a.refCount(x)).toBe(1);
      expect(a.retain(x)).toBe(2);
      expect(a.retain(x)).toBe(3);
      expectRejected(a, () => a.free(x), FrameError, ["shared"]);
      expect(a.release(x)).toBe(2);
      expect(a.release(x)).toBe(1);
      const used = a.stats().usedFrames;
      expect(a.release(x)).toBe(0);
      expect(a.refCount(x)).toBe(0);
      expect(a.stats().usedFrames).toBe(used - 1);
      expectRejected(a, () => a.release(x), FrameError, ["double-free"]);
    });

    it("releasing one frame of a run frees just that frame", () => {
      const a = factory(SMALL_MAP);
      const r = a.allocate({ count: 4 });
      if (!r.ok) throw new Error(r.message);
      expect(a.release(r.address + PAGE_SIZE)).toBe(0);
      expect([0, 1, 2, 3].map((i) => a.refCount(r.address + i * PAGE_SIZE))).toEqual([1, 0, 1, 1]);
      a.free(r.address + 2 * PAGE_SIZE, 2);
      a.free(r.address, 1);
      expect(a.stats().usedFrames).toBe(0);
    });

    it("knows which addresses it manages and reports 0 references for free ones", () => {
      const a = factory(SMALL_MAP);
      expect(a.isManaged(0)).toBe(false);
      expect(a.isManaged(0x9_f000)).toBe(false);
      expect(a.isManaged(MiB)).toBe(true);
      expect(a.isManaged(8 * MiB + 0x8000)).toBe(false);
      expect(a.isManaged(24 * MiB)).toBe(false);
      expect(a.isManaged(24 * MiB + PAGE_SIZE + 5)).toBe(true);
      expect(a.isManaged(64 * GiB)).toBe(false);
      expect(a.refCount(MiB)).toBe(0);
      a.reserve(MiB, PAGE_SIZE);
      expect(a.isManaged(MiB)).toBe(true);
      expect(() => a.isManaged(Number.NaN)).toThrow(InvalidArgumentError);
    });

    for (const seed of [1, 2, 3]) {
      it(`agrees with a Set-based model over ${steps} random steps (seed ${seed}), then every frame is allocatable`, () => {
        const a = factory(SMALL_MAP);
        const model = new ReferenceModel(SMALL_MAP);
        const snapshot = options.snapshot === undefined ? undefined : () => options.snapshot!(a);
        runModelOps(a, model, randomOps(seededRandom(seed), steps), snapshot);
        releaseEverything(a, model);
        const all = drainAll(a);
        expect(new Set(all)).toEqual(new Set([...model.usable].map((f) => f * PAGE_SIZE)));
      });
    }
  });
}
