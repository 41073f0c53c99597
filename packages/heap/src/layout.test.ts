import { describe, expect, test } from "vitest";
import {
  CONTROL_BYTES,
  CONTROL_MAGIC,
  END_MAGIC,
  FIRST_BLOCK,
  FREE_BIT,
  FREE_MAGIC,
  GRANULE,
  HEADS_AT,
  LIVE_MAGIC,
  PREV_FREE_BIT,
  SL_MAPS_AT,
  sizeClass,
} from "./layout.js";
import { expectPanicAndNoChange } from "./testing/expect-panic.js";
import { type RealHeapFixture, realHeap } from "./testing/real-stack.js";

/** The granule of the block whose pointer is `pointer`. */
function granuleOf(fixture: RealHeapFixture, pointer: number): number {
  return (pointer - fixture.heap.base) / GRANULE - 1;
}

describe("the allocator's structure is bytes in simulated RAM", () => {
  test("the control block sits at the window's base, mapped through the page tables, and its heads and bitmaps say where free blocks are", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    const memory = arch.memory;
    expect(memory.read32(heap.base)).toBe(CONTROL_MAGIC);
    expect(arch.getPhysicalAddress(0, heap.base)).not.toBe(0);
    const a = heap.kmalloc(64);
    heap.kmalloc(16);
    heap.kfree(a);
    // a is a free block of 5 granules: the head of class 5, whose bit is set in second-level map 0.
    const cls = sizeClass(5);
    expect(memory.read32(heap.base + HEADS_AT + cls * 4)).toBe(granuleOf(fixture, a));
    expect(memory.read32(heap.base + SL_MAPS_AT) & (1 << cls)).not.toBe(0);
    expect(heap.kmalloc(64)).toBe(a);
    expect(memory.read32(heap.base + HEADS_AT + cls * 4)).toBe(0);
    expect(memory.read32(heap.base + SL_MAPS_AT) & (1 << cls)).toBe(0);
  });

  test("a live header holds the requested size, the previous block, the size with its flags and the magic", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    const memory = arch.memory;
    const a = heap.kmalloc(100);
    const b = heap.kmalloc(200);
    const c = heap.kmalloc(100);
    heap.kmalloc(16);
    expect(a).toBe(heap.base + CONTROL_BYTES + 16);
    expect([memory.read32(a - 16), memory.read32(a - 12), memory.read32(a - 8), memory.read32(a - 4)]).toEqual([
      100,
      0,
      8,
      LIVE_MAGIC,
    ]);
    expect([memory.read32(b - 16), memory.read32(b - 12), memory.read32(b - 8), memory.read32(b - 4)]).toEqual([
      200,
      FIRST_BLOCK,
      14,
      LIVE_MAGIC,
    ]);
    heap.kfree(a);
    // b now knows the block before it is free; a holds its free-list links (next in its header, previous in its
    // first payload word).
    expect(memory.read32(b - 8)).toBe(14 | PREV_FREE_BIT);
    expect(memory.read32(a - 8)).toBe(8 | FREE_BIT);
    expect(memory.read32(a - 4)).toBe(FREE_MAGIC);
    expect(memory.read32(a - 16)).toBe(0); // the only block of its class: no next
    heap.kfree(c);
    // c heads the list now: a's previous-free link names it, c's own is not maintained.
    expect(memory.read32(heap.base + HEADS_AT + sizeClass(8) * 4)).toBe(granuleOf(fixture, c));
    expect(memory.read32(c - 16)).toBe(granuleOf(fixture, a));
    expect(memory.read32(a)).toBe(granuleOf(fixture, c));
  });

  test("an end marker follows the last block and links back to it", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    const end = heap.base + heap.stats().mappedBytes - GRANULE;
    expect(arch.memory.read32(end + 12)).toBe(END_MAGIC);
    // One free block spans the heap: the end marker's back link is it, with the previous-free flag.
    expect(arch.memory.read32(end + 4)).toBe(FIRST_BLOCK);
    expect(arch.memory.read32(end + 8)).toBe(PREV_FREE_BIT);
  });
});

describe("a stray write into the allocator's structure is caught, never followed", () => {
  test("a free block's next-free link overwritten with a wild value: heapCheck names it, and the kmalloc that takes the block panics naming it", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    const a = heap.kmalloc(64);
    heap.kmalloc(16);
    heap.kfree(a);
    arch.memory.write32(a - 16, 0x12345); // a use after free hits the link
    const report = heap.heapCheck();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.kind)).toContain("structure");
    expectPanicAndNoChange(
      fixture,
      () => heap.kmalloc(64),
      /kmalloc: Heap corruption detected at the free block at 0x[0-9A-F]+: its next-free link is 74565, outside the heap's blocks/,
    );
  });

  test("a next-free link pointed at a live block is never written through: the kmalloc that reaches it panics naming it", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    const a = heap.kmalloc(64);
    const live = heap.kmalloc(64);
    arch.memory.fill(live, 64, 0x33);
    heap.kfree(a);
    arch.memory.write32(a - 16, granuleOf(fixture, live));
    expect(heap.heapCheck().ok).toBe(false);
    // Taking the head only moves the list head on: nothing is written through its link.
    expect(heap.kmalloc(64)).toBe(a);
    expectPanicAndNoChange(
      fixture,
      () => heap.kmalloc(64),
      /kmalloc: Heap corruption detected at the block 0x[0-9A-F]+ \(64 bytes, owner "kernel"\): the header at granule \d+ should be a free block/,
    );
    const bytes = new Uint8Array(64);
    arch.memory.read(live, bytes);
    expect(bytes.every((x) => x === 0x33)).toBe(true);
  });

  test("a free block's previous-free link damaged by a write after free is caught when kfree merges with it, and nothing changes", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    const a = heap.kmalloc(64);
    const b = heap.kmalloc(64);
    heap.kmalloc(16);
    const c = heap.kmalloc(64);
    heap.kmalloc(16);
    heap.kfree(a);
    heap.kfree(c); // the list of a's class is c -> a
    arch.memory.write32(a, 300); // a's first payload word is its previous-free link
    expectPanicAndNoChange(
      fixture,
      () => heap.kfree(b),
      /kfree: Heap corruption detected at the free block at 0x[0-9A-F]+: its previous-free link 300 does not link back to it/,
    );
  });

  test("kfree of a block whose free neighbour's header was overwritten panics naming the neighbour and changes nothing", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    const a = heap.kmalloc(64);
    const b = heap.kmalloc(64);
    heap.kmalloc(16);
    heap.kfree(b);
    arch.memory.write32(b - 4, 0x41414141); // b's magic
    expectPanicAndNoChange(
      fixture,
      () => heap.kfree(a),
      /kfree: Heap corruption detected at the free block at 0x[0-9A-F]+: the header at granule \d+ should be a free block but reads .* magic 0x41414141/,
    );
  });

  test("a wild list head in the control block is caught by the kmalloc that would follow it", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    const a = heap.kmalloc(64);
    heap.kmalloc(16);
    heap.kfree(a);
    arch.memory.write32(heap.base + HEADS_AT + sizeClass(5) * 4, 0x7fff_0000);
    expect(heap.heapCheck().problems[0]).toMatchObject({ kind: "structure" });
    expectPanicAndNoChange(
      fixture,
      () => heap.kmalloc(64),
      /kmalloc: Heap corruption detected at the heap's control block: a free list head is 2147418112, outside the heap's blocks/,
    );
  });

  test("an overwritten control-block magic and end marker are reported by heapCheck", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    heap.kmalloc(10);
    arch.memory.write32(heap.base, 0);
    const end = heap.base + heap.stats().mappedBytes - GRANULE;
    arch.memory.write32(end + 12, 0);
    const messages = heap.heapCheck().problems.map((p) => p.message);
    expect(messages).toContainEqual(expect.stringMatching(/the control block's magic is 0x00000000/));
    expect(messages).toContainEqual(expect.stringMatching(/the end marker at 0x[0-9A-F]+ was overwritten/));
    expect(() => heap.heapCheck({ panic: true })).toThrow(/MEMORY_MANAGEMENT_ERROR.*heapCheck: the control block/);
  });

  test("heapCheck stops on a free-list cycle and on a size word that runs off the heap instead of looping or faulting", () => {
    const fixture = realHeap();
    const { heap, arch } = fixture;
    const blocks = Array.from({ length: 6 }, () => heap.kmalloc(64));
    heap.kfree(blocks[0]!);
    heap.kfree(blocks[2]!);
    heap.kfree(blocks[4]!);
    // The list of class 5 is blocks[4] -> blocks[2] -> blocks[0]; close it into a cycle.
    arch.memory.write32(blocks[0]! - 16, granuleOf(fixture, blocks[4]!));
    const cycle = heap.heapCheck();
    expect(cycle.ok).toBe(false);
    expect(cycle.problems.map((p) => p.message)).toContainEqual(expect.stringMatching(/cycle/));
    arch.memory.write32(blocks[0]! - 16, 0);
    expect(heap.heapCheck().ok).toBe(true);
    arch.memory.write32(blocks[1]! - 8, 0x0fff_ffff); // a size far past the heap's end
    const runaway = heap.heapCheck();
    expect(runaway.problems[0]!.message).toMatch(/does not make a block inside the heap: the walk stops here/);
  });
});
