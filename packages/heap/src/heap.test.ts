import { InvalidArgumentError, KERNEL_OWNER, KernelPanic, type OwnerContext, PAGE_SIZE } from "@ksim/core";
import { describe, expect, test } from "vitest";
import { SizeClasses } from "./classes.js";
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

  test("the header really sits in simulated RAM just before the pointer: tag and class, size, check word, owner", () => {
    const { heap, arch } = realHeap();
    const keep = heap.kmalloc(16);
    const p = heap.kmalloc(100);
    const c = new SizeClasses().of(100);
    expect(arch.memory.read32(p - 16)).toBe(((0xa11c << 16) | c) >>> 0);
    expect(arch.memory.read32(p - 12)).toBe(100);
    expect(arch.memory.read32(p - 4)).toBe(KERNEL_OWNER);
    expect(arch.getPhysicalAddress(0, p)).not.toBe(0);
    heap.kfree(p);
    // Free: the tag says so, and word 2 is the free-list link (the list was empty: 0 ends it... or the next free slot).
    expect(arch.memory.read32(p - 16)).toBe(((0xf4ee << 16) | c) >>> 0);
    expect(arch.memory.read32(heap.base + c * 16)).toBe(p - 16 - heap.base);
    heap.kfree(keep);
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
    const keep = heap.kmalloc(40);
    const p = heap.krealloc(0, 40);
    expect(p).not.toBe(0);
    expect(heap.sizeOf(p)).toBe(40);
    expect(heap.krealloc(p, 0)).toBe(0);
    expect(heap.stats().liveBlocks).toBe(1);
    expect(() => heap.kfree(p)).toThrow(/Multiple free detected/);
    heap.kfree(keep);
  });

  test("krealloc keeps a slab block in its slot while the new size fits and fills more than half of it", () => {
    const { heap, arch } = realHeap();
    const p = heap.kmalloc(1000); // kmalloc-1k: 1,024 bytes
    arch.memory.fill(p, 1000, 0x42);
    expect(heap.krealloc(p, 600)).toBe(p);
    expect(heap.krealloc(p, 1024)).toBe(p);
    expect(heap.sizeOf(p)).toBe(1024);
    // Shrinking below half the slot moves the block to a smaller class; growing past it moves it to a larger one.
    const small = heap.krealloc(p, 100);
    expect(small).not.toBe(p);
    const bytes = new Uint8Array(100);
    arch.memory.read(small, bytes);
    expect(bytes.every((x) => x === 0x42)).toBe(true);
    // The smallest class has nowhere smaller to go.
    const tiny = heap.kmalloc(16);
    expect(heap.krealloc(tiny, 1)).toBe(tiny);
    const big = heap.krealloc(small, 2000);
    expect(big).not.toBe(small);
    arch.memory.read(big, bytes);
    expect(bytes.every((x) => x === 0x42)).toBe(true);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("krealloc grows a large block in place by mapping the pages after it and shrinks it by unmapping its tail", () => {
    const { heap, arch, frames } = realHeap();
    const p = heap.kmalloc(100_000); // 25 pages, 50 reserved
    expect(p % PAGE_SIZE).toBe(0);
    arch.memory.fill(p, 100_000, 0x37);
    const used = frames.stats().usedFrames;
    expect(heap.krealloc(p, 150_000)).toBe(p);
    expect(frames.stats().usedFrames).toBe(used + 12);
    expect(arch.memory.read8(p + 99_999)).toBe(0x37);
    arch.memory.fill(p + 100_000, 50_000, 0x38);
    expect(heap.krealloc(p, 50_000)).toBe(p);
    expect(frames.stats().usedFrames).toBe(used - 12);
    expect(arch.memory.translate(p + 13 * PAGE_SIZE)).toBe(-1);
    expect(heap.sizeOf(p)).toBe(50_000);
    // Past its reserved room it moves, contents kept.
    const q = heap.krealloc(p, 300_000);
    expect(q).not.toBe(p);
    const bytes = new Uint8Array(50_000);
    arch.memory.read(q, bytes);
    expect(bytes.every((x) => x === 0x37)).toBe(true);
    expect(arch.memory.translate(p)).toBe(-1);
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

  test("a window that is not page-aligned, not a page multiple, or too small is refused", () => {
    const { memory, frames } = fakeHeap();
    expect(() => new Heap({ memory, frames, window: { name: "h", base: 0x1234, size: 0x100000 } })).toThrow(
      /window.base/,
    );
    expect(() => new Heap({ memory, frames, window: { name: "h", base: 0x1000, size: 0x101800 } })).toThrow(
      /window.size/,
    );
    expect(() => new Heap({ memory, frames, window: { name: "h", base: 0x1000, size: 0x10000 } })).toThrow(
      /window.size.*too small/,
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

  test("kmalloc returns 0 when the heap window is full, however many frames there are", () => {
    const { heap } = fakeHeap({ window: { name: "small", base: 0xff00_0000_0000, size: 512 * 1024 } });
    const blocks: number[] = [];
    for (let p = heap.kmalloc(1000); p !== 0; p = heap.kmalloc(1000)) blocks.push(p);
    // 128 pages: the control page, one descriptor page, then slabs of 5 pages (19 objects) at multiples of 5 pages:
    // pages 5 to 124 hold 24 of them.
    expect(blocks.length).toBe(24 * 19);
    expect(heap.stats().windowBytes).toBeLessThanOrEqual(512 * 1024);
    expect(heap.kmalloc(2 ** 40)).toBe(0);
    expect(heap.kmalloc(100_000)).toBe(0);
    expect(heap.stats().failures).toBe(3);
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

  test("a map or frame failure injected at every point of a slab refill or a large block leaves everything as it was", () => {
    for (const size of [100, 5000, 100_000]) {
      for (let point = 0; point < 30; point++) {
        for (const inject of ["map", "frame"] as const) {
          const { heap, memory, frames } = fakeHeap({ frames: 1024 });
          const keep = heap.kmalloc(16);
          const before = snapshotHeap(heap, memory, frames);
          if (inject === "map") memory.failMapAfter = point;
          else frames.limit = point;
          const p = heap.kmalloc(size);
          memory.failMapAfter = Number.POSITIVE_INFINITY;
          frames.limit = Number.POSITIVE_INFINITY;
          if (p === 0) {
            const after = snapshotHeap(heap, memory, frames);
            expect(after.stats.failures).toBe(1);
            expect(diffSnapshots(before, { ...after, stats: { ...after.stats, failures: 0 } })).toEqual([]);
          } else expect(heap.sizeOf(p)).toBe(size);
          expect(heap.sizeOf(keep)).toBe(16);
          expect(heap.heapCheck().ok).toBe(true);
        }
      }
    }
  });

  test("a failure on a later page of a span unmaps the pages already mapped (injected)", () => {
    const { heap, memory, frames } = fakeHeap();
    const keep = heap.kmalloc(16);
    const used = frames.stats().usedFrames;
    const mapped = memory.mappedPages;
    memory.failMapAfter = 3;
    expect(heap.kmalloc(40 * 1024)).toBe(0);
    memory.failMapAfter = Number.POSITIVE_INFINITY;
    expect(frames.stats().usedFrames).toBe(used);
    expect(memory.mappedPages).toBe(mapped);
    expect(heap.sizeOf(keep)).toBe(16);
    expect(heap.kmalloc(40 * 1024)).not.toBe(0);
  });

  test("the constructor panics OUT_OF_MEMORY when it cannot map the control page, and keeps nothing", () => {
    const { memory, frames, window } = fakeHeap();
    const fresh = { ...window, base: window.base + 0x1_0000_0000 };
    const used = frames.stats().usedFrames;
    frames.limit = 0;
    expect(() => new Heap({ memory, frames, window: fresh })).toThrow(/OUT_OF_MEMORY/);
    expect(frames.stats().usedFrames).toBe(used);
  });
});

describe("footprint", () => {
  test("a freed large block's pages go back to the frame allocator, and its virtual room is reused", () => {
    const { heap, arch, frames } = realHeap();
    heap.kmalloc(16);
    const mapped = heap.stats().mappedBytes;
    const used = frames.stats().usedFrames;
    const big = heap.kmalloc(1024 * 1024);
    expect(heap.stats().largeBytes).toBe(1024 * 1024);
    heap.kfree(big);
    expect(heap.stats().mappedBytes).toBe(mapped);
    expect(frames.stats().usedFrames).toBe(used);
    expect(arch.memory.translate(big)).toBe(-1);
    const again = heap.kmalloc(1024 * 1024);
    expect(again).toBe(big);
    arch.memory.fill(again, 1024 * 1024, 0x55);
    expect(arch.memory.read8(again + 1024 * 1024 - 1)).toBe(0x55);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("large blocks of ever new sizes reuse each other's virtual room: the used window stays bounded", () => {
    const { heap } = realHeap();
    const start = heap.stats().windowBytes;
    for (let kib = 33; kib < 600; kib += 3) heap.kfree(heap.kmalloc(kib * 1024));
    // Rooms are powers of two of pages (16 to 512 here): each size class of room is taken once.
    expect(heap.stats().windowBytes - start).toBeLessThanOrEqual((16 + 32 + 64 + 128 + 256 + 512) * PAGE_SIZE);
    expect(heap.stats().mappedBytes).toBe(PAGE_SIZE);
  });

  test("empty slabs go back once they pass 1/16 of the mapped bytes and 256 KiB; a few stay for reuse", () => {
    const { heap, frames } = realHeap();
    const keep = heap.kmalloc(16);
    const blocks = Array.from({ length: 3000 }, () => heap.kmalloc(1000));
    const grown = heap.stats();
    expect(grown.slabBytes).toBeGreaterThan(3000 * 1000);
    for (const p of blocks) heap.kfree(p);
    const after = heap.stats();
    expect(after.slabBytes).toBeLessThan(grown.slabBytes / 4);
    expect(after.emptySlabBytes).toBeLessThanOrEqual(Math.max(256 * 1024, after.mappedBytes / 16) + 5 * PAGE_SIZE);
    expect(after.frames).toBeLessThan(grown.frames / 4);
    expect(frames.stats().usedFrames).toBeLessThan(grown.frames);
    expect(heap.sizeOf(keep)).toBe(16);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("a kmalloc that needs a new slab returns 0 when frames run out, and changes nothing", () => {
    const { heap, arch, frames } = realHeap();
    heap.kmalloc(16);
    drainFrames(frames, 0);
    const before = snapshotHeap(heap, arch.memory, frames);
    expect(heap.kmalloc(5000)).toBe(0);
    expect(heap.kmallocAligned(64, 4096)).toBe(0);
    const after = snapshotHeap(heap, arch.memory, frames);
    expect(after.stats.failures).toBe(before.stats.failures + 2);
    expect(
      diffSnapshots(
        { ...before, stats: { ...before.stats, failures: 0 } },
        { ...after, stats: { ...after.stats, failures: 0 } },
      ),
    ).toEqual([]);
    // The kmalloc-16 slab still has room.
    expect(heap.kmalloc(16)).not.toBe(0);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("the heap starts as its control page and, once everything is freed, returns to it", () => {
    const { heap, frames } = realHeap();
    const initial = heap.stats().mappedBytes;
    const framesAtStart = frames.stats().usedFrames;
    expect(initial).toBe(PAGE_SIZE);
    const blocks = Array.from({ length: 300 }, (_, i) => heap.kmalloc(i % 10 === 0 ? 40_000 + i : 1000 + i * 7));
    const grown = heap.stats();
    expect(grown.mappedBytes).toBeGreaterThan(300 * 1000);
    expect(grown.controlBytes + grown.descriptorBytes + grown.slabBytes + grown.largeBytes).toBe(grown.mappedBytes);
    for (const p of blocks) heap.kfree(p);
    expect(heap.stats().mappedBytes).toBe(initial);
    expect(heap.stats().peakMappedBytes).toBe(grown.mappedBytes);
    // Page tables made for the heap stay (they belong to the kernel's address space); data frames all come back.
    expect(frames.stats().usedFrames).toBeLessThanOrEqual(framesAtStart + 3);
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

  test("stats add up and slabinfo has a row per cache with its objects, slabs and pages", () => {
    const { heap } = realHeap();
    const sizes = [1, 16, 17, 100, 1000, 5000, 200_000];
    for (const size of sizes) heap.kmalloc(size);
    const stats = heap.stats();
    expect(stats.liveBlocks).toBe(sizes.length);
    expect(stats.liveBytes).toBe(sizes.reduce((a, b) => a + b));
    expect(stats.controlBytes + stats.descriptorBytes + stats.slabBytes + stats.largeBytes).toBe(stats.mappedBytes);
    expect(stats.frames * PAGE_SIZE).toBe(stats.mappedBytes);
    const rows = heap.slabinfo();
    expect(rows).toHaveLength(73);
    expect(rows[0]!.name).toBe("kmalloc-16");
    expect(rows[71]!.name).toBe("kmalloc-32k");
    const active = Object.fromEntries(rows.filter((r) => r.activeObjects > 0).map((r) => [r.name, r.activeObjects]));
    expect(active).toEqual({
      "kmalloc-16": 2,
      "kmalloc-32": 1,
      "kmalloc-112": 1,
      "kmalloc-1k": 1,
      "kmalloc-5k": 1,
      "kmalloc-large": 1,
    });
    const k16 = rows[0]!;
    expect(k16).toMatchObject({ slotSize: 32, totalObjects: 128, objectsPerSlab: 128, pagesPerSlab: 1, slabs: 1 });
    expect(rows.reduce((sum, r) => sum + r.pages, 0) * PAGE_SIZE).toBe(stats.slabBytes + stats.largeBytes);
    expect(rows.reduce((sum, r) => sum + r.totalObjects - r.activeObjects, 0) - 0).toBe(stats.freeObjects);
    expect(formatSlabinfo(rows)).toMatch(/^# name .*\nkmalloc-16 +2 +128 +32 +128 +1 : slabdata +1 +1\n/);
  });
});
