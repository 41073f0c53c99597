import type { FrameAllocator, VirtualMemory } from "@ksim/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { Heap } from "./heap.js";
import { fakeHeap } from "./testing/fixture.js";
import { realHeap } from "./testing/real-stack.js";
import { diffSnapshots, snapshotHeap } from "./testing/snapshot.js";

type Op =
  | { readonly kind: "malloc" | "zalloc"; readonly size: number }
  | { readonly kind: "calloc"; readonly count: number; readonly size: number }
  | { readonly kind: "aligned"; readonly size: number; readonly alignShift: number }
  | { readonly kind: "free"; readonly pick: number }
  | { readonly kind: "realloc"; readonly pick: number; readonly size: number };

const size = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 256 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 4096 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 70_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 15, 16, 17, 4080, 4096, 4097, 65_536) },
);
const pick = fc.nat();
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("malloc" as const), size }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("zalloc" as const), size }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("calloc" as const),
      count: fc.integer({ min: 0, max: 64 }),
      size: fc.integer({ min: 0, max: 512 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("aligned" as const), size, alignShift: fc.integer({ min: 4, max: 13 }) }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("free" as const), pick }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("realloc" as const), pick, size }) },
);

/** `memory` without its optional pageView: the heap falls back to scalar accesses. */
function withoutPageView(memory: VirtualMemory): VirtualMemory {
  return new Proxy(memory, {
    get: (target, key) => {
      if (key === "pageView") return undefined;
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

interface Live {
  size: number;
  byte: number;
}

/**
 * Drives a heap and a reference model (a Map of live blocks) through `ops` and checks after every call: pointers
 * are aligned and nonzero, no two live blocks overlap, every block still holds the byte it was filled with
 * (through krealloc too), kcalloc/kzalloc memory is zero, and the statistics add up. Ends by freeing everything.
 */
function runModel(
  heap: Heap,
  memory: VirtualMemory,
  frames: FrameAllocator,
  ops: readonly Op[],
  checkEvery = 25,
): void {
  const model = new Map<number, Live>();
  const initialMapped = heap.stats().mappedBytes;
  const initialFrames = frames.stats().usedFrames;
  let nextByte = 1;
  const buffer = new Uint8Array(70_016);
  const holds = (p: number, length: number, byte: number) => {
    const view = buffer.subarray(0, length);
    memory.read(p, view);
    return view.every((x) => x === byte);
  };
  const admit = (p: number, length: number, alignment: number) => {
    expect(p).not.toBe(0);
    expect(p % alignment).toBe(0);
    for (const [q, live] of model) {
      const disjoint = p + Math.max(length, 1) <= q || q + Math.max(live.size, 1) <= p;
      if (!disjoint)
        expect.fail(`block 0x${p.toString(16)}+${length} overlaps live block 0x${q.toString(16)}+${live.size}`);
    }
    const byte = nextByte;
    nextByte = (nextByte % 254) + 1;
    if (length > 0) memory.fill(p, length, byte);
    model.set(p, { size: length, byte });
  };
  const choose = (index: number) => [...model.keys()][index % model.size]!;

  ops.forEach((step, i) => {
    switch (step.kind) {
      case "malloc":
        admit(heap.kmalloc(step.size), step.size, 16);
        break;
      case "zalloc": {
        const p = heap.kzalloc(step.size);
        expect(p !== 0 && holds(p, step.size, 0)).toBe(true);
        admit(p, step.size, 16);
        break;
      }
      case "calloc": {
        const p = heap.kcalloc(step.count, step.size);
        expect(p !== 0 && holds(p, step.count * step.size, 0)).toBe(true);
        admit(p, step.count * step.size, 16);
        break;
      }
      case "aligned":
        admit(heap.kmallocAligned(step.size, 2 ** step.alignShift), step.size, 2 ** step.alignShift);
        break;
      case "free": {
        if (model.size === 0) {
          heap.kfree(0);
          break;
        }
        const p = choose(step.pick);
        const live = model.get(p)!;
        expect(holds(p, live.size, live.byte)).toBe(true);
        heap.kfree(p);
        model.delete(p);
        break;
      }
      case "realloc": {
        const p = model.size === 0 ? 0 : choose(step.pick);
        const live = model.get(p);
        const q = heap.krealloc(p, step.size);
        if (live) model.delete(p);
        if (step.size === 0 && p !== 0) {
          expect(q).toBe(0);
          break;
        }
        if (live) expect(holds(q, Math.min(live.size, step.size), live.byte)).toBe(true);
        admit(q, step.size, 16);
        break;
      }
    }
    const stats = heap.stats();
    expect(stats.liveBlocks).toBe(model.size);
    expect(stats.liveBytes).toBe([...model.values()].reduce((sum, live) => sum + live.size, 0));
    expect(stats.controlBytes + stats.descriptorBytes + stats.slabBytes + stats.largeBytes).toBe(stats.mappedBytes);
    expect(stats.frames * 4096).toBe(stats.mappedBytes);
    expect(stats.mappedBytes % 4096).toBe(0);
    expect(stats.peakLiveBytes).toBeGreaterThanOrEqual(stats.liveBytes);
    expect(stats.peakMappedBytes).toBeGreaterThanOrEqual(stats.mappedBytes);
    if (i % checkEvery === 0) expect(heap.heapCheck().problems).toEqual([]);
  });
  expect(heap.heapCheck().problems).toEqual([]);
  for (const [p, live] of model) {
    expect(holds(p, live.size, live.byte)).toBe(true);
    heap.kfree(p);
  }
  const end = heap.stats();
  expect(end.liveBlocks).toBe(0);
  expect(end.liveBytes).toBe(0);
  expect(end.mappedBytes).toBe(initialMapped);
  expect(end).toMatchObject({
    slabBytes: 0,
    largeBytes: 0,
    descriptorBytes: 0,
    emptySlabBytes: 0,
    freeObjects: 0,
    quarantinedObjects: 0,
  });
  expect(heap.heapCheck()).toMatchObject({ ok: true, liveBlocks: 0, freeObjects: 0, slabs: 0, largeBlocks: 0 });
  // Data frames all come back; the real arch keeps page tables it made for the heap window (at most a few).
  expect(frames.stats().usedFrames - initialFrames).toBeLessThanOrEqual(4);
  expect(frames.stats().usedFrames).toBeGreaterThanOrEqual(initialFrames);
}

describe("model-based: random kmalloc/kfree/krealloc/kcalloc sequences", () => {
  test("on the real stack (machine RAM, buddy frames, x86-64 paging), every invariant holds", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 200, size: "max" }), (ops) => {
        const { heap, arch, frames } = realHeap({ ramSize: 32 * 1024 * 1024 });
        runModel(heap, arch.memory, frames, ops);
      }),
      { numRuns: 100 },
    );
  });

  test("in debug mode on the real stack, with red zones and poison checked on every heapCheck", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 80, size: "max" }), (ops) => {
        const { heap, arch, frames } = realHeap({ ramSize: 32 * 1024 * 1024, debug: true });
        runModel(heap, arch.memory, frames, ops, 10);
      }),
      { numRuns: 40 },
    );
  });

  test("long sequences on the fast test double return every frame exactly", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 300, maxLength: 1000 }), (ops) => {
        const { heap, memory, frames } = fakeHeap({ frames: 16_384 });
        const initialFrames = frames.stats().usedFrames;
        runModel(heap, memory, frames, ops, 100);
        expect(frames.stats().usedFrames).toBe(initialFrames);
      }),
      // Shrinking sequences this long takes minutes; the first counterexample is reported as found.
      { numRuns: 6, endOnFailure: true },
    );
  });

  test("on the real stack without pageView (the scalar read32/write32 path), every invariant holds", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 200, size: "max" }), (ops) => {
        const { heap, arch, frames } = realHeap({ ramSize: 32 * 1024 * 1024, wrapMemory: withoutPageView });
        runModel(heap, arch.memory, frames, ops);
      }),
      { numRuns: 40 },
    );
  });

  test("when frames run out at a random point, a failed call changes nothing and the heap stays usable", () => {
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 1, maxLength: 200, size: "max" }),
        fc.integer({ min: 16, max: 80 }),
        (ops, limit) => {
          const { heap, memory, frames } = fakeHeap({ frames: limit });
          const live: number[] = [];
          for (const step of ops) {
            if (step.kind === "free" || step.kind === "realloc") {
              if (live.length === 0) continue;
              const index = step.pick % live.length;
              if (step.kind === "free") {
                heap.kfree(live.splice(index, 1)[0]!);
                continue;
              }
              const before = snapshotHeap(heap, memory, frames);
              const q = heap.krealloc(live[index]!, step.size);
              if (q === 0 && step.size !== 0) {
                const after = snapshotHeap(heap, memory, frames);
                expect(
                  diffSnapshots(before, { ...after, stats: { ...after.stats, failures: before.stats.failures } }),
                ).toEqual([]);
              } else if (step.size === 0) live.splice(index, 1);
              else live[index] = q;
              continue;
            }
            const before = snapshotHeap(heap, memory, frames);
            const requested = step.kind === "calloc" ? step.count * step.size : step.size;
            const p =
              step.kind === "aligned" ? heap.kmallocAligned(requested, 2 ** step.alignShift) : heap.kmalloc(requested);
            if (p === 0) {
              const after = snapshotHeap(heap, memory, frames);
              expect(after.stats.failures).toBe(before.stats.failures + 1);
              expect(
                diffSnapshots(before, { ...after, stats: { ...after.stats, failures: before.stats.failures } }),
              ).toEqual([]);
            } else live.push(p);
          }
          expect(heap.heapCheck().problems).toEqual([]);
          for (const p of live) heap.kfree(p);
          expect(heap.stats().liveBlocks).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});
