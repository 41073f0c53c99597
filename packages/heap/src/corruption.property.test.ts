import { KernelPanic } from "@ksim/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { DESCRIPTORS, PAGE } from "./layout.js";
import { fakeHeap } from "./testing/fixture.js";
import { diffSnapshots, snapshotHeap } from "./testing/snapshot.js";

/**
 * Where a stray write lands: a word of a block's header or its first payload word (word 4), a word of the control
 * page, or a word of the page descriptor of a block's header page (a slab's in-use count, a large block's header).
 */
type Target =
  | { readonly kind: "block"; readonly pick: number; readonly word: number }
  | { readonly kind: "control"; readonly word: number }
  | { readonly kind: "descriptor"; readonly pick: number; readonly word: number };

const target: fc.Arbitrary<Target> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant("block" as const), pick: fc.nat(), word: fc.integer({ min: 0, max: 4 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("control" as const),
      word: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: PAGE / 4 - 1 })),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("descriptor" as const),
      pick: fc.nat(),
      word: fc.integer({ min: 0, max: 3 }),
    }),
  },
);

/**
 * A stray value: the header offset of another block (a link that points at someone's data or at another free
 * object), small numbers that look like links, counts and sizes, the heap's tags, or anything.
 */
const value = fc.oneof(
  fc.record({ blockHeader: fc.nat() }),
  fc.integer({ min: 0, max: 5000 }),
  fc.constantFrom(0, 1, 0x100_0000, 0x100_1000, 0xa11c_0003, 0xf4ee_0003, 0x5a03_0001, 0xa11c_ffff, 0xffffffff),
  fc.nat({ max: 0xffff_ffff }),
);

const size = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(16, 64, 100) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 3000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 30_000, max: 70_000 }) },
);

const op = fc.oneof(
  fc.record({ kind: fc.constant("malloc" as const), size }),
  fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("realloc" as const), pick: fc.nat(), size }),
);

/** Runs `call`; a KernelPanic(MEMORY_MANAGEMENT_ERROR) is an acceptable outcome, anything else thrown is not. */
function panicOrResult<T>(call: () => T): T | KernelPanic {
  try {
    return call();
  } catch (error) {
    if (error instanceof KernelPanic && error.stopName === "MEMORY_MANAGEMENT_ERROR") return error;
    throw error;
  }
}

describe.each([
  { debug: false, runs: 400 },
  { debug: true, runs: 150 },
])("a stray write anywhere in the allocator's structure (debug $debug)", ({ debug, runs }) => {
  test("is reported by heapCheck, and never makes the heap fault, loop, throw anything but a MEMORY_MANAGEMENT_ERROR panic that changes nothing, or write into a live block's data", () => {
    fc.assert(
      fc.property(
        // A few sizes repeat, so that free lists hold several objects and links point between them.
        fc.array(size, { minLength: 4, maxLength: 40 }),
        target,
        value,
        fc.array(op, { maxLength: 40 }),
        (sizes, where, stray, ops) => {
          const { heap, memory, frames } = fakeHeap({ frames: 4096, debug });
          const live = sizes.map((n) => heap.kmalloc(n));
          const freed = live.filter((_, i) => i % 3 === 1);
          for (const p of freed) heap.kfree(p);
          const held = live.filter((_, i) => i % 3 !== 1);
          // Slab objects (a large block's header is its descriptor); freed large blocks are unmapped anyway.
          const large = new Set(live.filter((_, i) => sizes[i]! + (debug ? 16 : 0) > 32_768));
          const blocks = [...held, ...freed].filter((p) => !large.has(p));
          fc.pre(blocks.length > 0);
          const pick = (n: number) => blocks[n % blocks.length]!;
          let address: number;
          if (where.kind === "block") address = pick(where.pick) - 16 + where.word * 4;
          else if (where.kind === "control") address = heap.base + where.word * 4;
          else {
            const p = [...held, ...freed][where.pick % live.length]!;
            const page = Math.floor((p - heap.base - (large.has(p) ? 0 : 16)) / PAGE);
            address = heap.base + DESCRIPTORS + page * 16 + where.word * 4;
          }
          fc.pre(memory.translate(address) >= 0);
          // Each live block holds a byte of its own; the heap must never write into it.
          const contents = new Map<number, { size: number; byte: number }>();
          for (const p of held) {
            const byte = (p >>> 4) & 0xff;
            const n = heap.sizeOf(p);
            memory.fill(p, n, byte);
            contents.set(p, { size: n, byte });
          }
          const intact = () => {
            for (const [p, { size: n, byte }] of contents) {
              const bytes = new Uint8Array(n);
              memory.read(p, bytes);
              // The stray write itself may have landed in a live block's first payload word.
              for (let i = 0; i < n; i++) {
                if (bytes[i] !== byte && !(p + i >= address && p + i < address + 4)) {
                  expect.fail(`byte ${i} of the live block 0x${p.toString(16)} changed`);
                }
              }
            }
          };
          const strayValue =
            typeof stray === "number" ? stray >>> 0 : blocks[stray.blockHeader % blocks.length]! - 16 - heap.base;
          const old = memory.read32(address);
          memory.write32(address, strayValue);
          // Every word of the structure is checked but a free object's stale size and owner words (1 and 3; and its
          // link while it waits in the debug quarantine) and the payload (checked only as poison in debug mode).
          const freeHeader = where.kind === "block" && !held.includes(pick(where.pick));
          const staleWord = debug ? where.word !== 0 : where.word % 2 === 1;
          const unchecked =
            where.kind === "block" && (where.word === 4 ? !debug || !freeHeader : freeHeader && staleWord);
          const report = heap.heapCheck();
          expect(report.problems.length).toBeLessThanOrEqual(32);
          if (old !== strayValue && !unchecked) expect(report.ok).toBe(false);
          // A panic halts the kernel: the sequence stops there. The panicking call changed nothing.
          for (const step of ops) {
            const before = snapshotHeap(heap, memory, frames);
            let outcome: unknown;
            let subject = 0;
            if (step.kind === "malloc") {
              outcome = panicOrResult(() => heap.kmalloc(step.size));
              if (typeof outcome === "number" && outcome !== 0) held.push(outcome);
            } else if (held.length > 0) {
              const index = step.pick % held.length;
              subject = held[index]!;
              outcome =
                step.kind === "free"
                  ? panicOrResult(() => heap.kfree(subject))
                  : panicOrResult(() => heap.krealloc(subject, step.size));
              if (!(outcome instanceof KernelPanic)) {
                contents.delete(subject);
                if (step.kind === "free" || step.size === 0) held.splice(index, 1);
                else if (outcome !== 0) held[index] = outcome as number;
              }
            }
            if (outcome instanceof KernelPanic) {
              expect(diffSnapshots(before, snapshotHeap(heap, memory, frames))).toEqual([]);
              contents.delete(subject);
              break;
            }
            intact();
          }
          intact();
          expect(typeof heap.heapCheck().ok).toBe("boolean");
        },
      ),
      { numRuns: runs },
    );
  });
});

test("a list head pointing at an unmapped page or into the middle of an object is caught before it is read", () => {
  const { heap, memory } = fakeHeap({ frames: 2048, debug: true });
  const keep = heap.kmalloc(100);
  const c = Math.floor((memory.read32(keep - 16) & 0xffff) >>> 0);
  for (const wild of [0x7fff_0000, keep - heap.base, keep - heap.base - 16 + 8]) {
    const row = heap.base + c * 16;
    const old = memory.read32(row);
    memory.write32(row, wild);
    expect(() => heap.kmalloc(100)).toThrow(
      /kmalloc: Heap corruption detected at the control page \(the list head of kmalloc-128\): it is 0x[0-9A-F]+, not an object/,
    );
    memory.write32(row, old);
  }
  expect(heap.heapCheck().ok).toBe(true);
});
