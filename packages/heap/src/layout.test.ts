import { describe, expect, test } from "vitest";
import { SizeClasses } from "./classes.js";
import { CONTROL_MAGIC, DESCRIPTORS, firstDataPage, PAGE } from "./layout.js";
import { realHeap } from "./testing/real-stack.js";

const classes = new SizeClasses();

describe("the allocator's structure is bytes in simulated RAM", () => {
  test("the control page at the window's base holds one list head per class, then its magic", () => {
    const { heap, arch } = realHeap();
    const memory = arch.memory;
    expect(memory.read32(heap.base + classes.count * 16)).toBe(CONTROL_MAGIC);
    const c = classes.of(100);
    const a = heap.kmalloc(100);
    const b = heap.kmalloc(100);
    // A fresh slab is threaded in address order: the head is the slot after b.
    expect(b - a).toBe(classes.slot[c]);
    expect(memory.read32(heap.base + c * 16)).toBe(b + classes.slot[c]! - 16 - heap.base);
    heap.kfree(a);
    expect(memory.read32(heap.base + c * 16)).toBe(a - 16 - heap.base);
    // The freed object's header links to the old head.
    expect(memory.read32(a - 8)).toBe(b + classes.slot[c]! - 16 - heap.base);
  });

  test("descriptors follow the control page (16 bytes per heap page); slabs start after them", () => {
    const { heap, arch } = realHeap();
    // x86-64's heap window is far larger than 4 GiB, so the heap uses 4 GiB: 4,096 descriptor pages.
    expect(firstDataPage(2 ** 20)).toBe(4097);
    const p = heap.kmalloc(100);
    const slab = Math.floor((p - heap.base) / PAGE);
    expect(slab).toBe(4097);
    const descriptor = heap.base + DESCRIPTORS + slab * 16;
    const c = classes.of(100);
    // The slab's first page's descriptor: tag 0x5A, class, objects in use.
    expect(arch.memory.read32(descriptor)).toBe(((0x5a << 24) | (c << 16) | 1) >>> 0);
    const q = heap.kmalloc(100);
    expect(arch.memory.read32(descriptor) & 0xffff).toBe(2);
    heap.kfree(q);
    expect(arch.memory.read32(descriptor) & 0xffff).toBe(1);
    // The descriptor page is mapped; the ones of pages never used are not.
    expect(arch.memory.translate(descriptor)).toBeGreaterThan(0);
    expect(arch.memory.translate(heap.base + DESCRIPTORS + 100 * PAGE)).toBe(-1);
  });

  test("a large block is page-aligned, its pages hold only its bytes, its header is its first page's descriptor", () => {
    const { heap, arch } = realHeap({ owners: { current: () => 5, nameOf: () => "driver" } });
    const p = heap.kmalloc(40_000);
    expect(p % PAGE).toBe(0);
    const descriptor = heap.base + DESCRIPTORS + ((p - heap.base) / PAGE) * 16;
    expect(arch.memory.read32(descriptor)).toBe(0xa11cffff);
    expect(arch.memory.read32(descriptor + 4)).toBe(40_000);
    expect(arch.memory.read32(descriptor + 12)).toBe(5);
    expect(heap.stats().largeBytes).toBe(10 * PAGE);
    expect(arch.memory.translate(p + 10 * PAGE)).toBe(-1);
  });

  test("heapCheck names a damaged slab descriptor, and the kmalloc that would count in it panics before writing", () => {
    const { heap, arch } = realHeap();
    const p = heap.kmalloc(100);
    const descriptor = heap.base + DESCRIPTORS + Math.floor((p - heap.base) / PAGE) * 16;
    arch.memory.write32(descriptor, 0x12345678);
    expect(heap.heapCheck().problems).toContainEqual(
      expect.objectContaining({
        kind: "structure",
        message: expect.stringMatching(/the descriptor of the kmalloc-112 slab/),
      }),
    );
    expect(() => heap.kmalloc(100)).toThrow(
      /kmalloc: Heap corruption detected at the descriptor of the page at 0x[0-9A-F]+: the slab descriptor reads 0x12345678/,
    );
    expect(() => heap.kfree(p)).toThrow(/kfree: Heap corruption detected at the descriptor/);
    expect(heap.sizeOf(p)).toBe(100);
  });

  test("a free-list cycle and a link into another class are reported by heapCheck, never followed forever", () => {
    const { heap, arch } = realHeap();
    const blocks = Array.from({ length: 6 }, () => heap.kmalloc(100));
    const other = heap.kmalloc(5000);
    for (const p of blocks.slice(1)) heap.kfree(p);
    const last = blocks[5]!;
    // The most recently freed object (the head) links to the one freed before; make the latter link back.
    arch.memory.write32(blocks[4]! - 8, last - 16 - heap.base);
    expect(heap.heapCheck().problems[0]!.message).toMatch(/cycle/);
    arch.memory.write32(blocks[4]! - 8, other - 16 - heap.base);
    expect(heap.heapCheck().problems[0]!.message).toMatch(/not a free object of the class/);
    expect(() => {
      for (let i = 0; i < 10; i++) heap.kmalloc(100);
    }).toThrow(/Heap corruption detected/);
  });

  test("heapCheck checks slabs and large blocks against the mappings: a page unmapped behind the heap's back is reported, not read", () => {
    const { heap, arch } = realHeap();
    const p = heap.kmalloc(100);
    const big = heap.kmalloc(40_000);
    arch.memory.unmap(p - ((p - heap.base) % PAGE), PAGE);
    arch.memory.unmap(big + 3 * PAGE, PAGE);
    const messages = heap.heapCheck().problems.map((problem) => problem.message);
    expect(messages).toContainEqual(
      expect.stringMatching(/page 0 of the kmalloc-112 slab at 0x[0-9A-F]+ is not mapped/),
    );
    expect(messages).toContainEqual(expect.stringMatching(/page 3 of the large block at 0x[0-9A-F]+ is not mapped/));
  });
});
