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
    const { heap } = fixture;
    const pointer = heap.base + 0x800;
    const panic = expectPanicAndNoChange(
      fixture,
      run(fixture, pointer),
      /Invalid free detected: points into the heap's control page/,
    );
    expect(panic.message).toContain("0xFFFFFF0000000800");
    expect(panic.message).toContain(call);
    expectPanicAndNoChange(
      fixture,
      run(fixture, heap.base + 0x2000),
      /Invalid free detected: points into the heap's page descriptors/,
    );
    // A slab's tail, past its last object: kmalloc-208 has 18 slots of 224 bytes in one page (4,032 bytes).
    const slab = fixture.live[1]! - 16 - ((fixture.live[1]! - 16 - heap.base) % 4096);
    expectPanicAndNoChange(
      fixture,
      run(fixture, slab + 4048),
      /Invalid free detected: points into the unused tail of a kmalloc-208 slab/,
    );
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

  test(`${call} of a freed large block (its pages already given back) panics "Multiple free detected"`, () => {
    const fixture = busyHeap();
    const big = fixture.heap.kmalloc(100_000);
    fixture.heap.kfree(big);
    expect(fixture.arch.memory.translate(big)).toBe(-1);
    expectPanicAndNoChange(
      fixture,
      run(fixture, big),
      /Multiple free detected: the large block at 0x[0-9A-F]+ was already freed/,
    );
  });

  test(`${call} in debug mode of a pointer freed a while ago is still caught: the quarantine delays reuse`, () => {
    const fixture = realHeap({ debug: true });
    const { heap } = fixture;
    const keep = heap.kmalloc(64);
    const p = heap.kmalloc(64);
    heap.kfree(p);
    for (let i = 0; i < 100; i++) expect(heap.kmalloc(64)).not.toBe(p);
    expectPanicAndNoChange(fixture, run(fixture, p), /Multiple free detected/);
    expect(heap.sizeOf(keep)).toBe(64);
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
    const { heap } = fixture;
    // Two neighbours in one slab (a fresh slab hands out its objects in address order).
    const before = heap.kmalloc(3000);
    const victim = heap.kmalloc(3000);
    expect(victim - before).toBe(3088);
    // The block before it writes 8 bytes too many: they land on the victim's header.
    fixture.arch.memory.write32(victim - 16, 0x41414141);
    fixture.arch.memory.write32(victim - 12, 0x41414141);
    const panic = expectPanicAndNoChange(
      fixture,
      run(fixture, victim),
      /Heap corruption detected: the header of the block 0x[0-9A-F]+ \(size and owner unknown: its header is damaged\) was overwritten/,
    );
    expect(panic.message).toMatch(/its tag reads 0x41414141, expected 0xA11C00[0-9A-F]{2}/);
    expect(panic.message).toMatch(
      /potential overrun of the block before it, the block 0x[0-9A-F]+ \(3000 bytes, owner "kernel"\)/,
    );
  });
});

describe("which header damage each check sees", () => {
  test("kfree of a block whose tag was hit by an underrun (its own last header byte... of the block before) panics and changes nothing", () => {
    const fixture = busyHeap();
    const victim = fixture.live[1]!;
    fixture.arch.memory.write8(victim - 16, 0x00);
    const panic = expectPanicAndNoChange(fixture, () => fixture.heap.kfree(victim), /Heap corruption detected/);
    expect(panic.message).toMatch(/its tag reads 0xA11C0000, expected 0xA11C00[0-9A-F]{2}/);
    expect(panic.message).toMatch(/an underrun of this block or a stray write/);
  });

  test("a stray write into the owner word breaks the check word: kfree, krealloc and heapCheck all see it", () => {
    const fixture = busyHeap();
    const { heap, arch } = fixture;
    const victim = fixture.live[1]!;
    const owner = arch.memory.read32(victim - 4);
    arch.memory.write32(victim - 4, 7);
    expect(heap.heapCheck().problems).toContainEqual(
      expect.objectContaining({ kind: "header", address: victim, message: expect.stringMatching(/was overwritten/) }),
    );
    expectPanicAndNoChange(fixture, () => heap.krealloc(victim, 10), /does not match its size 200 and owner 7/);
    expectPanicAndNoChange(fixture, () => heap.kfree(victim), /does not match its size 200 and owner 7/);
    arch.memory.write32(victim - 4, owner);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("kfree of a block whose size word was overwritten panics and changes nothing", () => {
    const fixture = busyHeap();
    const { heap, arch } = fixture;
    const victim = fixture.live[0]!;
    arch.memory.write32(victim - 12, 99);
    expect(heap.heapCheck().problems[0]).toMatchObject({ kind: "header" });
    expectPanicAndNoChange(fixture, () => heap.kfree(victim), /check word 0x[0-9A-F]+ does not match its size 99/);
  });

  test("a large block's header is its first page's descriptor, checked the same way", () => {
    const fixture = busyHeap();
    const { heap, arch } = fixture;
    const big = heap.kmalloc(50_000);
    const descriptor = heap.base + 4096 + ((big - heap.base) / 4096) * 16;
    expect(arch.memory.read32(descriptor + 4)).toBe(50_000);
    arch.memory.write32(descriptor + 4, 60_000);
    expectPanicAndNoChange(fixture, () => heap.kfree(big), /Heap corruption detected: the header of the block/);
    arch.memory.write32(descriptor + 4, 50_000);
    heap.kfree(big);
    expect(heap.heapCheck().ok).toBe(true);
  });
});

test("sizeOf of a freed or wild pointer panics in its own words and changes nothing", () => {
  const fixture = busyHeap();
  const { heap } = fixture;
  expectPanicAndNoChange(
    fixture,
    () => heap.sizeOf(fixture.freed),
    /sizeOf\(0x[0-9A-F]+\): Use after free detected: the block at 0x[0-9A-F]+ was already freed/,
  );
  expectPanicAndNoChange(
    fixture,
    () => heap.sizeOf(fixture.live[1]! + 32),
    /sizeOf\(0x[0-9A-F]+\): Invalid pointer: points inside/,
  );
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

test("a double free after the heap gave everything back is still named a multiple free, and changes nothing", () => {
  const fixture = realHeap();
  const { heap, arch } = fixture;
  const p = heap.kmalloc(100);
  heap.kfree(p);
  expect(heap.stats().mappedBytes).toBe(4096);
  expect(arch.memory.translate(p)).toBe(-1);
  expectPanicAndNoChange(
    fixture,
    () => heap.kfree(p),
    /Multiple free detected: the block at 0x[0-9A-F]+ was already freed \(its memory has since gone back/,
  );
  // A pointer elsewhere in those pages never was a block: a wild pointer, not a multiple free.
  expectPanicAndNoChange(fixture, () => heap.kfree(p + 128), /Invalid free detected: not a block of this heap/);
});

test("a free of a slot no block has had yet is an invalid free, not a multiple free, and changes nothing", () => {
  const fixture = busyHeap();
  const { heap } = fixture;
  // kmalloc-208's slab holds 18 slots of 224 bytes; live[1] (200 bytes) took the first, the next 17 never served.
  const never = fixture.live[1]! + 224 * 5;
  expect(() => heap.sizeOf(never)).toThrow(KernelPanic);
  expectPanicAndNoChange(
    fixture,
    () => heap.kfree(never),
    /Invalid free detected: points to a free slot of kmalloc-208 that no block has had yet/,
  );
  // Once a block had that slot and was freed, a second free is a multiple free.
  const taken: number[] = [];
  while (!taken.includes(never)) taken.push(heap.kmalloc(200));
  heap.kfree(never);
  expectPanicAndNoChange(fixture, () => heap.kfree(never), /Multiple free detected/);
});
