import { InvalidArgumentError, KERNEL_OWNER, KernelPanic, type OwnerContext, PAGE_SIZE } from "@ksim/core";
import { describe, expect, test } from "vitest";
import { Heap } from "./heap.js";
import { formatSlabinfo } from "./stats.js";
import { fakeHeap } from "./testing/fixture.js";
import { realHeap } from "./testing/real-stack.js";
import { diffSnapshots, snapshotHeap } from "./testing/snapshot.js";

/** Takes every free frame out of the buddy allocator, then gives `keep` of them back; returns the rest. */
function drainFrames(frames: { allocFrame(): number; free(a: number, n?: number): void }, keep: number): number[] {
  const taken: number[] = [];
  for (let frame = frames.allocFrame(); frame !== 0; frame = frames.allocFrame()) taken.push(frame);
  for (let i = 0; i < keep; i++) frames.free(taken.pop()!, 1);
  return taken;
}

describe("malloc semantics", () => {
  test("kmalloc returns 16-byte aligned pointers inside the heap window, for every size", () => {
    const { heap, arch } = realHeap();
    const window = arch.layout.heap;
    for (let size = 0; size < 600; size += 7) {
      const p = heap.kmalloc(size);
      expect(p % 16).toBe(0);
      expect(p).toBeGreaterThanOrEqual(window.base);
      expect(p + size).toBeLessThanOrEqual(window.base + window.size);
      expect(heap.sizeOf(p)).toBe(size);
    }
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("the header really sits in simulated RAM just before the pointer", () => {
    const { heap, arch } = realHeap();
    const p = heap.kmalloc(100);
    expect(arch.memory.read32(p - 4)).toBe(0xc001c0de);
    expect(arch.memory.read32(p - 16)).toBe(100);
    expect(arch.getPhysicalAddress(0, p)).not.toBe(0);
    heap.kfree(p);
    expect(arch.memory.read32(p - 4)).toBe(0xdeaddead);
  });

  test("kmalloc(0) returns a unique, freeable pointer (liballoc and glibc behaviour)", () => {
    const { heap } = realHeap();
    const a = heap.kmalloc(0);
    const b = heap.kmalloc(0);
    expect(a).not.toBe(0);
    expect(b).not.toBe(a);
    expect(heap.sizeOf(a)).toBe(0);
    heap.kfree(a);
    heap.kfree(b);
    expect(heap.stats().liveBlocks).toBe(0);
  });

  test("kfree(0) does nothing", () => {
    const { heap, arch, frames } = realHeap();
    heap.kmalloc(10);
    const before = snapshotHeap(heap, arch.memory, frames);
    heap.kfree(0);
    expect(diffSnapshots(before, snapshotHeap(heap, arch.memory, frames))).toEqual([]);
  });

  test("memory a block was given keeps its contents until it is freed", () => {
    const { heap, arch } = realHeap();
    const a = heap.kmalloc(64);
    const b = heap.kmalloc(64);
    arch.memory.fill(a, 64, 0xaa);
    arch.memory.fill(b, 64, 0xbb);
    const c = heap.kmalloc(64);
    arch.memory.fill(c, 64, 0xcc);
    const bytes = new Uint8Array(64);
    arch.memory.read(a, bytes);
    expect(bytes.every((x) => x === 0xaa)).toBe(true);
    arch.memory.read(b, bytes);
    expect(bytes.every((x) => x === 0xbb)).toBe(true);
  });

  test("krealloc(0, n) is kmalloc(n) and krealloc(p, 0) frees p and returns 0", () => {
    const { heap } = realHeap();
    const p = heap.krealloc(0, 40);
    expect(p).not.toBe(0);
    expect(heap.sizeOf(p)).toBe(40);
    expect(heap.krealloc(p, 0)).toBe(0);
    expect(heap.stats().liveBlocks).toBe(0);
    expect(() => heap.kfree(p)).toThrow(/Multiple free detected/);
  });

  test("krealloc shrinks in place and grows in place into free memory after the block", () => {
    const { heap, arch } = realHeap();
    const p = heap.kmalloc(1000);
    arch.memory.fill(p, 1000, 0x42);
    expect(heap.krealloc(p, 100)).toBe(p);
    expect(heap.sizeOf(p)).toBe(100);
    // The tail it gave back is free again, so growing takes it back without moving.
    expect(heap.krealloc(p, 2000)).toBe(p);
    const bytes = new Uint8Array(100);
    arch.memory.read(p, bytes);
    expect(bytes.every((x) => x === 0x42)).toBe(true);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("krealloc of the last block grows the heap in place by mapping pages", () => {
    const { heap } = realHeap();
    const p = heap.kmalloc(1000);
    const mapped = heap.stats().mappedBytes;
    expect(heap.krealloc(p, mapped * 2)).toBe(p);
    expect(heap.stats().mappedBytes).toBeGreaterThan(mapped);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("krealloc moves a block hemmed in by a neighbour and keeps its contents", () => {
    const { heap, arch } = realHeap();
    const p = heap.kmalloc(48);
    const fence = heap.kmalloc(16);
    for (let i = 0; i < 48; i++) arch.memory.write8(p + i, i);
    const q = heap.krealloc(p, 5000);
    expect(q).not.toBe(p);
    for (let i = 0; i < 48; i++) expect(arch.memory.read8(q + i)).toBe(i);
    expect(heap.sizeOf(q)).toBe(5000);
    expect(() => heap.sizeOf(p)).toThrow(KernelPanic);
    heap.kfree(fence);
    heap.kfree(q);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("kcalloc and kzalloc zero the memory, even memory that held data before", () => {
    const { heap, arch } = realHeap();
    const dirty = heap.kmalloc(4096);
    arch.memory.fill(dirty, 4096, 0xff);
    heap.kfree(dirty);
    for (const p of [heap.kcalloc(64, 64), heap.kzalloc(4096)]) {
      const bytes = new Uint8Array(4096);
      arch.memory.read(p, bytes);
      expect(bytes.every((x) => x === 0)).toBe(true);
      heap.kfree(p);
    }
  });

  test("kcalloc returns 0 when count * size overflows or cannot be met, and changes nothing", () => {
    const { heap, arch, frames } = realHeap();
    heap.kmalloc(10);
    const before = snapshotHeap(heap, arch.memory, frames);
    expect(heap.kcalloc(2 ** 32, 2 ** 32)).toBe(0);
    expect(heap.kcalloc(Number.MAX_SAFE_INTEGER, 2)).toBe(0);
    expect(heap.kcalloc(2 ** 20, 2 ** 20)).toBe(0);
    const after = snapshotHeap(heap, arch.memory, frames);
    expect(
      diffSnapshots(
        { ...before, stats: { ...before.stats, failures: 0 } },
        { ...after, stats: { ...after.stats, failures: 0 } },
      ),
    ).toEqual([]);
    expect(heap.kcalloc(0, 100)).not.toBe(0);
  });

  test("kmallocAligned returns page-aligned buffers that kfree accepts", () => {
    const { heap, arch } = realHeap();
    const small = heap.kmalloc(24);
    const pages: number[] = [];
    for (let i = 0; i < 8; i++) {
      const p = heap.kmallocAligned(3 * PAGE_SIZE, PAGE_SIZE);
      expect(p % PAGE_SIZE).toBe(0);
      arch.memory.fill(p, 3 * PAGE_SIZE, i);
      pages.push(p);
    }
    const wide = heap.kmallocAligned(100, 0x20_0000);
    expect(wide % 0x20_0000).toBe(0);
    expect(heap.heapCheck().ok).toBe(true);
    for (const p of [...pages, wide, small]) heap.kfree(p);
    expect(heap.stats().liveBlocks).toBe(0);
    expect(heap.heapCheck().ok).toBe(true);
  });
});

describe("bad arguments", () => {
  const bad = [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY, -0.5];

  test.each(bad)(
    "kmalloc/kzalloc/kcalloc/krealloc/kmallocAligned(%s) throw InvalidArgumentError and change nothing",
    (value) => {
      const { heap, arch, frames } = realHeap();
      const p = heap.kmalloc(10);
      const before = snapshotHeap(heap, arch.memory, frames);
      expect(() => heap.kmalloc(value)).toThrow(InvalidArgumentError);
      expect(() => heap.kzalloc(value)).toThrow(InvalidArgumentError);
      expect(() => heap.kcalloc(value, 1)).toThrow(InvalidArgumentError);
      expect(() => heap.kcalloc(1, value)).toThrow(InvalidArgumentError);
      expect(() => heap.krealloc(p, value)).toThrow(InvalidArgumentError);
      expect(() => heap.kmallocAligned(value, 16)).toThrow(InvalidArgumentError);
      expect(diffSnapshots(before, snapshotHeap(heap, arch.memory, frames))).toEqual([]);
    },
  );

  test.each(bad)("kfree/krealloc of pointer %s throw InvalidArgumentError and change nothing", (value) => {
    const { heap, arch, frames } = realHeap();
    heap.kmalloc(10);
    const before = snapshotHeap(heap, arch.memory, frames);
    expect(() => heap.kfree(value)).toThrow(InvalidArgumentError);
    expect(() => heap.krealloc(value, 10)).toThrow(InvalidArgumentError);
    expect(diffSnapshots(before, snapshotHeap(heap, arch.memory, frames))).toEqual([]);
  });

  test.each(bad)("sizeOf(%s) and releaseOwner(%s) throw InvalidArgumentError and change nothing", (value) => {
    const { heap, arch, frames } = realHeap();
    heap.kmalloc(10);
    const before = snapshotHeap(heap, arch.memory, frames);
    expect(() => heap.sizeOf(value)).toThrow(InvalidArgumentError);
    expect(() => heap.releaseOwner(value)).toThrow(InvalidArgumentError);
    expect(diffSnapshots(before, snapshotHeap(heap, arch.memory, frames))).toEqual([]);
  });

  test.each([0, -16, 24, 3 * 1024, 0x40_0000, 1.5, Number.NaN])(
    "kmallocAligned with alignment %s throws InvalidArgumentError",
    (alignment) => {
      const { heap } = realHeap();
      expect(() => heap.kmallocAligned(64, alignment)).toThrow(InvalidArgumentError);
    },
  );

  test("a window that is not page-aligned, or sizes that are not page multiples, are refused", () => {
    const { memory, frames } = fakeHeap();
    expect(() => new Heap({ memory, frames, window: { name: "h", base: 0x1234, size: 0x10000 } })).toThrow(
      /window.base/,
    );
    expect(() => new Heap({ memory, frames, window: { name: "h", base: 0x1000, size: 0x1800 } })).toThrow(
      /window.size/,
    );
    expect(
      () => new Heap({ memory, frames, window: { name: "h", base: 0x1000, size: 0x10000 }, growBytes: 100 }),
    ).toThrow(/growBytes/);
    expect(() => new Heap({ memory, frames, window: { name: "h", base: 0x1000, size: 0x1000 } })).toThrow(
      /initialBytes/,
    );
  });
});

describe("running out of memory", () => {
  test("kmalloc returns 0 when the frame allocator runs dry, and the heap and the allocator are as before", () => {
    const { heap, arch, frames } = realHeap();
    const p = heap.kmalloc(1000);
    drainFrames(frames, 3);
    const before = snapshotHeap(heap, arch.memory, frames);
    expect(heap.kmalloc(256 * 1024)).toBe(0);
    expect(heap.krealloc(p, 256 * 1024)).toBe(0);
    expect(heap.kzalloc(256 * 1024)).toBe(0);
    expect(heap.kmallocAligned(256 * 1024, 4096)).toBe(0);
    const after = snapshotHeap(heap, arch.memory, frames);
    expect(after.stats.failures).toBe(before.stats.failures + 4);
    expect(
      diffSnapshots(
        { ...before, stats: { ...before.stats, failures: 0 } },
        { ...after, stats: { ...after.stats, failures: 0 } },
      ),
    ).toEqual([]);
    expect(heap.sizeOf(p)).toBe(1000);
    // What still fits in the mapped heap is still handed out.
    expect(heap.kmalloc(1000)).not.toBe(0);
  });

  test("a request larger than the default growth falls back to exactly what it needs", () => {
    const { heap, frames } = realHeap();
    heap.kmalloc(60 * 1024);
    drainFrames(frames, 5);
    expect(heap.kmalloc(12 * 1024)).not.toBe(0);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("kmalloc returns 0 when the heap window is full, however many frames there are", () => {
    const { heap } = fakeHeap({ window: { name: "small", base: 0xff00_0000_0000, size: 256 * 1024 } });
    const blocks: number[] = [];
    for (let p = heap.kmalloc(1000); p !== 0; p = heap.kmalloc(1000)) blocks.push(p);
    expect(blocks.length).toBeGreaterThan(200);
    expect(heap.stats().mappedBytes).toBe(256 * 1024);
    expect(heap.kmalloc(2 ** 40)).toBe(0);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("a page-table failure while mapping rolls back every frame and mapping (injected)", () => {
    const { heap, memory, frames } = fakeHeap();
    heap.kmalloc(50 * 1024);
    const before = snapshotHeap(heap, memory, frames);
    memory.failMapAfter = 0;
    expect(heap.kmalloc(100 * 1024)).toBe(0);
    memory.failMapAfter = Number.POSITIVE_INFINITY;
    const after = snapshotHeap(heap, memory, frames);
    expect(after.stats.failures).toBe(before.stats.failures + 1);
    expect(diffSnapshots(before, { ...after, stats: { ...after.stats, failures: before.stats.failures } })).toEqual([]);
    expect(memory.mappedPages).toBe(before.stats.mappedBytes / PAGE_SIZE);
  });

  test("a failure on a later run of frames unmaps the runs already mapped (injected)", () => {
    const { heap, memory, frames } = fakeHeap({ initialBytes: 0 });
    // Make the frames non-contiguous so the growth needs several map calls.
    const taken = Array.from({ length: 40 }, () => frames.allocFrame());
    for (let i = 1; i < taken.length; i += 2) frames.free(taken[i]!);
    const used = frames.stats().usedFrames;
    memory.failMapAfter = 3;
    expect(heap.kmalloc(40 * 1024)).toBe(0);
    expect(frames.stats().usedFrames).toBe(used);
    expect(memory.mappedPages).toBe(0);
    expect(heap.stats().mappedBytes).toBe(0);
  });

  test("the constructor panics OUT_OF_MEMORY when it cannot map the first pages, and keeps nothing", () => {
    const { memory, frames, window } = fakeHeap({ initialBytes: 0 });
    frames.limit = 3;
    expect(() => new Heap({ memory, frames, window })).toThrow(/OUT_OF_MEMORY/);
    expect(frames.stats().usedFrames).toBe(0);
  });
});

describe("footprint", () => {
  test("a large free block inside the heap gives its whole pages back, and they are mapped again when used", () => {
    const { heap, arch, frames } = realHeap();
    heap.kmalloc(16);
    const big = heap.kmalloc(1024 * 1024);
    heap.kmalloc(16);
    const mapped = heap.stats().mappedBytes;
    const used = frames.stats().usedFrames;
    heap.kfree(big);
    const after = heap.stats();
    // All but the initial 64 KiB (kept mapped) and the pages holding the free block's header and link and the next
    // block's header.
    expect(after.unmappedBytes).toBeGreaterThanOrEqual(1024 * 1024 - 64 * 1024 - 2 * PAGE_SIZE);
    expect(after.mappedBytes).toBe(mapped - after.unmappedBytes);
    expect(frames.stats().usedFrames).toBe(used - after.unmappedBytes / PAGE_SIZE);
    expect(arch.memory.translate(big + 64 * 1024)).toBe(-1);
    expect(heap.heapCheck().ok).toBe(true);
    const again = heap.kmalloc(1024 * 1024);
    expect(again).toBe(big);
    expect(heap.stats().unmappedBytes).toBe(0);
    arch.memory.fill(again, 1024 * 1024, 0x55);
    const bytes = new Uint8Array(1024 * 1024);
    arch.memory.read(again, bytes);
    expect(bytes.every((x) => x === 0x55)).toBe(true);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("a kmalloc that needs pages given back returns 0 when frames run out, and changes nothing", () => {
    const { heap, arch, frames } = realHeap();
    heap.kmalloc(16);
    const big = heap.kmalloc(1024 * 1024);
    heap.kmalloc(16);
    heap.kfree(big);
    drainFrames(frames, 3);
    const before = snapshotHeap(heap, arch.memory, frames);
    expect(heap.kmalloc(1024 * 1024)).toBe(0);
    const after = snapshotHeap(heap, arch.memory, frames);
    expect(after.stats.failures).toBe(before.stats.failures + 1);
    expect(
      diffSnapshots(
        { ...before, stats: { ...before.stats, failures: 0 } },
        { ...after, stats: { ...after.stats, failures: 0 } },
      ),
    ).toEqual([]);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("the heap maps its initial pages, grows by whole pages and gives them back when everything is freed", () => {
    const { heap, frames } = realHeap();
    const initial = heap.stats().mappedBytes;
    const framesAtStart = frames.stats().usedFrames;
    expect(initial).toBe(64 * 1024);
    const blocks = Array.from({ length: 300 }, (_, i) => heap.kmalloc(1000 + i));
    const grown = heap.stats();
    expect(grown.mappedBytes % PAGE_SIZE).toBe(0);
    expect(grown.mappedBytes).toBeGreaterThan(300 * 1000);
    expect(grown.blockBytes + grown.freeBytes + grown.controlBytes).toBe(grown.mappedBytes + grown.unmappedBytes);
    for (const p of blocks) heap.kfree(p);
    expect(heap.stats().mappedBytes).toBe(initial);
    expect(heap.stats().peakMappedBytes).toBe(grown.mappedBytes);
    // Page tables made for the heap stay (they belong to the kernel's address space); data frames all come back.
    expect(frames.stats().usedFrames).toBeLessThanOrEqual(framesAtStart + 2);
  });

  test("free pages at the top go back once they pass the trim threshold, keeping a pad", () => {
    const { heap } = realHeap();
    const keep = heap.kmalloc(16);
    const big = heap.kmalloc(1024 * 1024);
    const mapped = heap.stats().mappedBytes;
    heap.kfree(big);
    const after = heap.stats().mappedBytes;
    expect(after).toBeLessThan(mapped);
    expect(after).toBeLessThanOrEqual(64 * 1024 + 2 * PAGE_SIZE);
    expect(heap.sizeOf(keep)).toBe(16);
    expect(heap.heapCheck().ok).toBe(true);
  });
});

describe("owners and reports", () => {
  function ownerContext(): OwnerContext & { set(owner: number): void } {
    let current = KERNEL_OWNER;
    return {
      current: () => current,
      nameOf: (owner) => (owner === KERNEL_OWNER ? "kernel" : `driver${owner}`),
      set: (owner) => {
        current = owner;
      },
    };
  }

  test("blocks carry the owner current at kmalloc; leaks are listed and released by owner", () => {
    const owners = ownerContext();
    const { heap } = realHeap({ owners });
    const kernelBlock = heap.kmalloc(100);
    owners.set(7);
    const a = heap.kmalloc(10);
    const b = heap.kcalloc(3, 10);
    owners.set(9);
    const c = heap.kzalloc(5);
    owners.set(KERNEL_OWNER);
    // krealloc keeps the block's owner, whoever calls it.
    const a2 = heap.krealloc(a, 4000);
    expect(a2).not.toBe(a);
    expect(heap.blocks().find((info) => info.address === a2)?.owner).toBe(7);

    const leaks = heap.leaksByOwner();
    expect(leaks.map((l) => [l.owner, l.name, l.blocks, l.bytes])).toEqual([
      [7, "driver7", 2, 4030],
      [KERNEL_OWNER, "kernel", 1, 100],
      [9, "driver9", 1, 5],
    ]);
    expect(heap.blocks().map((info) => info.address)).toEqual([kernelBlock, b, c, a2].sort((x, y) => x - y));

    const released = heap.releaseOwner(7);
    expect(released.map((r) => r.address).sort()).toEqual([a2, b].sort());
    expect(heap.leaksByOwner().map((l) => l.owner)).toEqual([KERNEL_OWNER, 9]);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("a block reusing the memory of a driver's freed block is the kernel's, not the driver's", () => {
    const owners = ownerContext();
    const { heap } = realHeap({ owners });
    owners.set(7);
    const p = heap.kmalloc(64);
    owners.set(KERNEL_OWNER);
    heap.kmalloc(16);
    heap.kfree(p);
    owners.set(KERNEL_OWNER);
    const q = heap.kmalloc(64);
    expect(q).toBe(p);
    expect(heap.blocks().find((info) => info.address === q)?.owner).toBe(KERNEL_OWNER);
    expect(heap.leaksByOwner().map((usage) => usage.owner)).toEqual([KERNEL_OWNER]);
    expect(heap.releaseOwner(7)).toEqual([]);
  });

  test("an owner id that is not a non-negative int32 is refused", () => {
    const { heap } = realHeap({ owners: { current: () => -3, nameOf: () => "?" } });
    expect(() => heap.kmalloc(10)).toThrow(InvalidArgumentError);
  });

  test("stats add up and slabinfo sorts blocks into kmalloc-style caches", () => {
    const { heap } = realHeap();
    const sizes = [1, 16, 17, 100, 1000, 5000, 200_000];
    for (const size of sizes) heap.kmalloc(size);
    const stats = heap.stats();
    expect(stats.liveBlocks).toBe(sizes.length);
    expect(stats.liveBytes).toBe(sizes.reduce((a, b) => a + b));
    expect(stats.blockBytes + stats.freeBytes + stats.controlBytes).toBe(stats.mappedBytes + stats.unmappedBytes);
    expect(stats.overheadBytes).toBe(stats.blockBytes - stats.liveBytes);
    expect(stats.frames * PAGE_SIZE).toBe(stats.mappedBytes);
    const rows = heap.slabinfo();
    const active = Object.fromEntries(rows.filter((r) => r.activeObjects > 0).map((r) => [r.name, r.activeObjects]));
    expect(active).toEqual({
      "kmalloc-16": 2,
      "kmalloc-32": 1,
      "kmalloc-128": 1,
      "kmalloc-1k": 1,
      "kmalloc-8k": 1,
      "kmalloc-large": 1,
    });
    expect(rows.reduce((sum, r) => sum + r.blockBytes + r.freeBytes, 0) + stats.controlBytes).toBe(
      stats.mappedBytes + stats.unmappedBytes,
    );
    expect(formatSlabinfo(rows)).toMatch(/^# name .*\nkmalloc-16 +2 +17 /);
  });
});
