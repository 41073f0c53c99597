import { KernelPanic } from "@ksim/core";
import { describe, expect, test } from "vitest";
import { expectPanicAndNoChange } from "./testing/expect-panic.js";
import { fakeHeap } from "./testing/fixture.js";
import { type RealHeapFixture, realHeap } from "./testing/real-stack.js";

/** A heap with a few live and freed blocks around. */
function busyHeap(): RealHeapFixture & { live: number[]; freed: number } {
  const fixture = realHeap();
  const { heap } = fixture;
  const live = [heap.kmalloc(100), heap.kmalloc(200), heap.kmalloc(300)];
  const freed = heap.kmalloc(50);
  live.push(heap.kmalloc(400));
  heap.kfree(freed);
  return { ...fixture, live, freed };
}

describe.each(["kfree", "krealloc"] as const)("%s of a pointer that is not a live block", (call) => {
  const run = (fixture: RealHeapFixture, pointer: number) => () =>
    call === "kfree" ? fixture.heap.kfree(pointer) : fixture.heap.krealloc(pointer, 64);

  test(`${call} of a pointer never allocated panics "Invalid free detected" naming the address and changes nothing`, () => {
    const fixture = busyHeap();
    const pointer = fixture.heap.base + 0xf000;
    const panic = expectPanicAndNoChange(fixture, run(fixture, pointer), /Invalid free detected/);
    expect(panic.message).toContain("0xFFFFFF000000F000");
    expect(panic.message).toContain(call);
  });

  test(`${call} of an interior pointer panics, names the block it points into and changes nothing`, () => {
    const fixture = busyHeap();
    const inside = fixture.live[1]! + 32;
    expectPanicAndNoChange(
      fixture,
      run(fixture, inside),
      /Invalid free detected: points inside the block 0x[0-9A-F]+ \(200 bytes, owner "kernel"\), not at its start/,
    );
    expectPanicAndNoChange(fixture, run(fixture, fixture.live[1]! + 3), /points inside the block/);
  });

  test(`${call} of a freed pointer panics "Multiple free detected" and changes nothing`, () => {
    const fixture = busyHeap();
    expectPanicAndNoChange(
      fixture,
      run(fixture, fixture.freed),
      /Multiple free detected: the block at 0x[0-9A-F]+ was already freed/,
    );
  });

  test(`${call} of a freed pointer whose memory was reused names the new owner block`, () => {
    const fixture = busyHeap();
    const { heap } = fixture;
    const before = heap.kmalloc(5000);
    const p = heap.kmalloc(5000);
    heap.kmalloc(16);
    heap.kfree(before);
    heap.kfree(p);
    const reuse = heap.kmalloc(8000);
    expect(reuse).toBe(before);
    expectPanicAndNoChange(fixture, run(fixture, p), /Multiple free detected: .* its memory now belongs to the block/);
  });

  test(`${call} of a pointer outside the heap window (another heap, a stack, a device) panics and changes nothing`, () => {
    const fixture = busyHeap();
    for (const pointer of [0x1000, 0x7fff_0000_0000, fixture.arch.layout.dma.base + 16, fixture.heap.base - 16]) {
      expectPanicAndNoChange(fixture, run(fixture, pointer), /Invalid free detected: not a heap pointer/);
    }
  });

  test(`${call} of a pointer above the heap's break panics and changes nothing`, () => {
    const fixture = busyHeap();
    const pointer = fixture.heap.base + 64 * 1024 * 1024;
    expectPanicAndNoChange(fixture, run(fixture, pointer), /Invalid free detected: not a block of this heap/);
  });

  test(`${call} of a block whose header was overwritten panics "Heap corruption detected" and changes nothing`, () => {
    const fixture = busyHeap();
    const victim = fixture.live[2]!;
    // The block before it writes 8 bytes too many: they land on the victim's header.
    fixture.arch.memory.write32(victim - 16, 0x41414141);
    fixture.arch.memory.write32(victim - 12, 0x41414141);
    const panic = expectPanicAndNoChange(
      fixture,
      run(fixture, victim),
      /Heap corruption detected: the header of the block 0x[0-9A-F]+ \(size unknown: its header is damaged, owner "kernel"\) was overwritten/,
    );
    expect(panic.message).toMatch(/size 1094795585 does not fit its block of 20 granules/);
    expect(panic.message).toMatch(/back link 1094795585 \(outside the heap\)/);
    expect(panic.message).toMatch(/potential overrun of the block before it, the block 0x[0-9A-F]+ \(200 bytes/);
  });
});

describe("which header damage each check sees", () => {
  test("kfree of a block whose magic was hit by an underrun (its own last header byte) panics and changes nothing", () => {
    const fixture = busyHeap();
    const victim = fixture.live[1]!;
    fixture.arch.memory.write8(victim - 1, 0x00);
    const panic = expectPanicAndNoChange(fixture, () => fixture.heap.kfree(victim), /Heap corruption detected/);
    expect(panic.message).toMatch(/magic 0x0001C0DE \(expected 0xC001C0DE\)/);
  });

  test("damage to the back link alone (a wild write) is found by heapCheck and krealloc, not the kfree fast path", () => {
    const fixture = busyHeap();
    const { heap, arch } = fixture;
    const victim = fixture.live[1]!;
    const link = arch.memory.read32(victim - 12);
    arch.memory.write32(victim - 12, 7); // the previous-physical-block link
    // The block before is named too: its successor no longer links back to it.
    expect(heap.heapCheck().problems).toContainEqual(
      expect.objectContaining({ kind: "header", address: victim, message: expect.stringMatching(/back link 7/) }),
    );
    expectPanicAndNoChange(fixture, () => heap.krealloc(victim, 10), /back link 7 \(outside the heap\)/);
    arch.memory.write32(victim - 12, link);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("kfree of a block whose size word was overwritten panics and changes nothing", () => {
    const fixture = busyHeap();
    const { heap, arch } = fixture;
    const victim = fixture.live[0]!;
    arch.memory.write32(victim - 8, 99); // the size word: 99 granules instead of 8
    expect(heap.heapCheck().problems[0]).toMatchObject({ kind: "header" });
    const panic = expectPanicAndNoChange(
      fixture,
      () => heap.kfree(victim),
      /size 100 does not fit its block of 99 granules/,
    );
    expect(panic.message).toMatch(/the header that ends it links back to \d+, not here/);
  });

  test("in debug mode kfree checks the whole header, back link included", () => {
    const fixture = realHeap({ debug: true });
    const { heap, arch } = fixture;
    heap.kmalloc(40);
    const p = heap.kmalloc(40);
    heap.kmalloc(40);
    arch.memory.write32(p - 12, 1234); // the back link only
    expectPanicAndNoChange(fixture, () => heap.kfree(p), /back link 1234 \(outside the heap\)/);
  });
});

test("a free of the other heap's pointer panics when two heaps share nothing", () => {
  const first = fakeHeap();
  const second = fakeHeap({ window: { name: "other", base: 0xfe00_0000_0000, size: 0x100_0000 } });
  const p = second.heap.kmalloc(10);
  expect(() => first.heap.kfree(p)).toThrow(/Invalid free detected: not a heap pointer/);
  expect(second.heap.sizeOf(p)).toBe(10);
});

test("the heap keeps working after a refused free", () => {
  const fixture = busyHeap();
  const { heap } = fixture;
  expect(() => heap.kfree(fixture.freed)).toThrow(KernelPanic);
  for (const p of fixture.live) heap.kfree(p);
  expect(heap.stats().liveBlocks).toBe(0);
  expect(heap.heapCheck().ok).toBe(true);
});
