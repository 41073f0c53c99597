import { KERNEL_OWNER, KernelPanic, type OwnerContext } from "@ksim/core";
import { describe, expect, test } from "vitest";
import { QUARANTINE_OBJECTS } from "./quarantine.js";
import type { Slabs } from "./slabs.js";
import { expectPanicAndNoChange } from "./testing/expect-panic.js";
import { type RealHeapFixture, realHeap } from "./testing/real-stack.js";
import { diffSnapshots, snapshotHeap } from "./testing/snapshot.js";

// Damage met by a call after the checks of its own block (the old class's list head, a slab descriptor, the
// quarantined object it pushes out, a sweep or the release of every slab it triggers) panics before the call writes
// anything: the heap's mapped bytes, mappings, stats, blocks and frames are as they were.

/** The window address of the descriptor of the page holding `address`. */
function descriptorOf(heap: ReturnType<typeof realHeap>["heap"], address: number): number {
  return heap.base + 0x1000 + Math.floor((address - heap.base) / 4096) * 16;
}

/**
 * Frees `blocks` in turn until one kfree panics (the one that makes a sweep due): that panic must match `message` and
 * leave the heap byte-identical; the frees before it must not panic.
 */
function freeUntilPanic(fixture: RealHeapFixture, blocks: readonly number[], message: RegExp): void {
  const { heap, arch, frames } = fixture;
  for (const block of blocks) {
    const before = snapshotHeap(heap, arch.memory, frames);
    try {
      heap.kfree(block);
    } catch (error) {
      expect(error).toBeInstanceOf(KernelPanic);
      expect((error as KernelPanic).message).toMatch(message);
      expect(diffSnapshots(before, snapshotHeap(heap, arch.memory, frames))).toEqual([]);
      expect(heap.stats().emptySlabBytes).toBeGreaterThan(200 * 1024); // it was the sweep's check that panicked
      return;
    }
  }
  expect.unreachable("no kfree made a sweep due");
}

describe("a call that meets damage beyond its own block panics with the heap as it was", () => {
  test("krealloc that moves a block panics before allocating when the old class's list head is damaged", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    const p = heap.kmalloc(16);
    heap.kmalloc(16);
    arch.memory.write32(heap.base, 0x7fff_0000); // kmalloc-16's list head
    expectPanicAndNoChange(fixture, () => heap.krealloc(p, 5000), /krealloc: .*list head of kmalloc-16.*0x7FFF0000/);
  });

  test("krealloc that moves a block panics before allocating when the old slab's descriptor is damaged", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    const p = heap.kmalloc(16);
    heap.kmalloc(100);
    arch.memory.write32(descriptorOf(heap, p), 0x1234);
    expectPanicAndNoChange(fixture, () => heap.krealloc(p, 5000), /krealloc: .*descriptor.*0x1234/);
  });

  test("debug krealloc that moves a block panics before allocating when the quarantined object it pushes out was written", () => {
    const fixture = realHeap({ debug: true });
    const { heap, arch } = fixture;
    const olds = Array.from({ length: QUARANTINE_OBJECTS }, () => heap.kmalloc(64));
    const p = heap.kmalloc(16);
    for (const old of olds) heap.kfree(old);
    arch.memory.write8(olds[0]!, 1);
    expectPanicAndNoChange(fixture, () => heap.krealloc(p, 5000), /krealloc: .*Write after free detected/);
  });

  test("debug kfree panics before quarantining its block when the quarantined object it pushes out has a damaged tag", () => {
    const fixture = realHeap({ debug: true });
    const { heap, arch } = fixture;
    const olds = Array.from({ length: QUARANTINE_OBJECTS }, () => heap.kmalloc(64));
    const p = heap.kmalloc(16);
    heap.kmalloc(16);
    for (const old of olds) heap.kfree(old);
    arch.memory.write32(olds[0]! - 16, 0x4141_4141);
    expectPanicAndNoChange(fixture, () => heap.kfree(p), /kfree: .*a quarantined object's tag is 0x41414141/);
  });

  test("kfree of the last live block panics before freeing anything when another class's list is damaged", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    const x = heap.kmalloc(16);
    const y = heap.kmalloc(32);
    heap.kfree(x);
    const head32 = arch.memory.read32(heap.base + 16);
    arch.memory.write32(heap.base + head32, 0x4141_4141); // the tag of kmalloc-32's free list head
    expectPanicAndNoChange(fixture, () => heap.kfree(y), /kfree: .*a listed object's tag is not free/);
  });

  test("kfree of the last live block (a large one) panics before unmapping it when a slab's list is damaged", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    const x = heap.kmalloc(16);
    const big = heap.kmalloc(100_000);
    heap.kfree(x);
    arch.memory.write32(x - 16, 0x4141_4141);
    expectPanicAndNoChange(fixture, () => heap.kfree(big), /kfree: .*a listed object's tag is not free/);
  });

  test("kfree that triggers a sweep panics before pushing its block when a queued slab's list is damaged", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    heap.kmalloc(16); // keeps the heap from emptying
    const z = heap.kmalloc(32);
    heap.kfree(z); // kmalloc-32's slab is empty and queued
    arch.memory.write32(z - 16, 0x4141_4141);
    const blocks = Array.from({ length: 70 }, () => heap.kmalloc(4000));
    freeUntilPanic(fixture, blocks, /kfree: .*kmalloc-32.*a listed object's tag is not free/);
  });

  test("debug kfree of the last live block reports a write after free in an object back on its list, changing nothing", () => {
    const fixture = realHeap({ debug: true });
    const { heap, arch } = fixture;
    const keep = heap.kmalloc(1000);
    const x = heap.kmalloc(16);
    heap.kfree(x);
    for (let i = 0; i < QUARANTINE_OBJECTS; i++) heap.kfree(heap.kmalloc(100)); // x leaves the quarantine
    arch.memory.write32(x, 0xdead_beef);
    expectPanicAndNoChange(
      fixture,
      () => heap.kfree(keep),
      /kfree: Heap corruption detected at the free object at 0x[0-9A-F]+ \(kmalloc-32\): Write after free detected: byte \+0 is 0xef/,
    );
  });

  test("debug kfree of the last live block reports a write after free in a quarantined object, changing nothing", () => {
    const fixture = realHeap({ debug: true });
    const { heap, arch } = fixture;
    const a = heap.kmalloc(64);
    const p = heap.kmalloc(16);
    heap.kfree(a);
    arch.memory.write8(a, 1);
    expectPanicAndNoChange(fixture, () => heap.kfree(p), /kfree: .*Write after free detected: byte \+0 is 0x1/);
  });

  test("debug kfree that triggers a sweep reports a write after free in a slab about to be given back", () => {
    const fixture = realHeap({ debug: true });
    const { heap, arch } = fixture;
    heap.kmalloc(16); // keeps the heap from emptying
    const z = heap.kmalloc(32);
    heap.kfree(z);
    for (let i = 0; i < QUARANTINE_OBJECTS; i++) heap.kfree(heap.kmalloc(100)); // z's slab is empty and queued
    arch.memory.write8(z + 5, 7);
    const blocks = Array.from({ length: 400 }, () => heap.kmalloc(4000));
    freeUntilPanic(fixture, blocks, /kfree: .*kmalloc-48.*Write after free detected: byte \+5 is 0x7/);
  });

  test("a damaged in-use count of an empty slab is reported when the heap empties, changing nothing", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    const a = heap.kmalloc(16);
    const b = heap.kmalloc(5000);
    heap.kfree(a);
    const d = descriptorOf(heap, a);
    arch.memory.write32(d, arch.memory.read32(d) + 1);
    expectPanicAndNoChange(
      fixture,
      () => heap.kfree(b),
      /kfree: .*descriptor of the page.*reads 0x5A000001, expected 0x5A000000/,
    );
  });

  test("releaseOwner checks every block's list head and descriptor before freeing any", () => {
    let current = 7;
    const owners: OwnerContext = {
      current: () => current,
      nameOf: (o) => (o === KERNEL_OWNER ? "kernel" : `driver${o}`),
    };
    const fixture = realHeap({ owners });
    const { heap, arch } = fixture;
    heap.kmalloc(16);
    heap.kmalloc(5000);
    heap.kmalloc(100_000);
    current = KERNEL_OWNER;
    heap.kmalloc(100);
    const row = heap.slabinfo().findIndex((r) => r.name === "kmalloc-5k");
    arch.memory.write32(heap.base + row * 16, 0x7fff_0000);
    expectPanicAndNoChange(fixture, () => heap.releaseOwner(7), /releaseOwner: .*list head of kmalloc-5k/);
  });

  test("releaseOwner of every live block checks the release of every slab before freeing any", () => {
    const current = 7;
    const owners: OwnerContext = { current: () => current, nameOf: (o) => `driver${o}` };
    const fixture = realHeap({ owners });
    const { heap, arch } = fixture;
    heap.kmalloc(16);
    heap.kmalloc(100_000);
    const z = heap.kmalloc(32);
    heap.kfree(z);
    arch.memory.write32(z - 16 + 8, 0x7fff_0000); // kmalloc-32's only free-list link
    expectPanicAndNoChange(fixture, () => heap.releaseOwner(7), /releaseOwner: /);
  });

  test("debug releaseOwner checks the quarantined objects its frees push out before freeing any", () => {
    let current = 7;
    const owners: OwnerContext = { current: () => current, nameOf: (o) => `driver${o}` };
    const fixture = realHeap({ owners, debug: true });
    const { heap, arch } = fixture;
    heap.kmalloc(16);
    heap.kmalloc(200);
    current = 0;
    heap.kmalloc(16);
    const olds = Array.from({ length: QUARANTINE_OBJECTS }, () => heap.kmalloc(64));
    for (const old of olds) heap.kfree(old);
    arch.memory.write8(olds[1]!, 1); // the second object pushed out
    expectPanicAndNoChange(fixture, () => heap.releaseOwner(7), /releaseOwner: .*Write after free detected/);
    arch.memory.write8(olds[1]!, 0x6b);
    expect(heap.releaseOwner(7)).toHaveLength(2);
    expect(heap.heapCheck().ok).toBe(true);
  });
});

describe("the empty-slab queue", () => {
  test("holds each slab at most once under steady churn", () => {
    const { heap } = realHeap();
    heap.kmalloc(1000);
    const slabs = (heap as unknown as { slabs: Slabs }).slabs;
    for (let i = 0; i < 20_000; i++) heap.kfree(heap.kmalloc(16 + (i % 3) * 200));
    const slabCount = heap.slabinfo().reduce((sum, row) => sum + (row.name === "kmalloc-large" ? 0 : row.slabs), 0);
    expect(slabs.queueLength).toBeLessThanOrEqual(slabCount);
    expect(slabs.queueLength).toBeGreaterThan(0);
  });

  test("a slab reused and emptied again many times is queued once and counted once", () => {
    const { heap } = realHeap();
    heap.kmalloc(1000);
    const slabs = (heap as unknown as { slabs: Slabs }).slabs;
    for (let i = 0; i < 1000; i++) heap.kfree(heap.kmalloc(16));
    expect(slabs.queueLength).toBe(1);
    expect(heap.stats().emptySlabBytes).toBe(4096);
  });
});
