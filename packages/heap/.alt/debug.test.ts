import { KernelPanic } from "@ksim/core";
import { describe, expect, test } from "vitest";
import { Poison } from "./debug.js";
import { realHeap } from "./testing/real-stack.js";
import { diffSnapshots, snapshotHeap } from "./testing/snapshot.js";

function bytesAt(memory: { read(v: number, into: Uint8Array): void }, address: number, length: number): number[] {
  const bytes = new Uint8Array(length);
  memory.read(address, bytes);
  return [...bytes];
}

describe("debug mode", () => {
  test("a new block reads as the not-yet-written marker, followed by a red zone", () => {
    const { heap, arch } = realHeap({ debug: true });
    const p = heap.kmalloc(20);
    expect(bytesAt(arch.memory, p, 20).every((b) => b === Poison.uninitialised)).toBe(true);
    // At least 16 bytes of red zone after the 20 requested bytes.
    expect(bytesAt(arch.memory, p + 20, 16).every((b) => b === Poison.redZone)).toBe(true);
    expect(heap.heapCheck().ok).toBe(true);
  });

  test("kzalloc and kcalloc still zero in debug mode", () => {
    const { heap, arch } = realHeap({ debug: true });
    const p = heap.kcalloc(10, 10);
    expect(bytesAt(arch.memory, p, 100).every((b) => b === 0)).toBe(true);
  });

  test("an overflow by one byte is reported at kfree, naming the block, its size and owner; nothing changes", () => {
    const fixture = realHeap({
      debug: true,
      owners: { current: () => 3, nameOf: (o) => (o === 3 ? "Example Driver (example.sys)" : "kernel") },
    });
    const { heap, arch, frames } = fixture;
    const p = heap.kmalloc(32);
    heap.kmalloc(32);
    arch.memory.write8(p + 32, 0);
    const before = snapshotHeap(heap, arch.memory, frames);
    let panic: KernelPanic | undefined;
    try {
      heap.kfree(p);
    } catch (error) {
      panic = error as KernelPanic;
    }
    expect(panic).toBeInstanceOf(KernelPanic);
    expect(panic!.stopName).toBe("MEMORY_MANAGEMENT_ERROR");
    expect(panic!.message).toMatch(
      /kfree\(0x[0-9A-F]+\): Heap overflow detected: the block 0x[0-9A-F]+ \(32 bytes, owner "Example Driver \(example\.sys\)"\) was written past its end: byte \+32/,
    );
    expect(diffSnapshots(before, snapshotHeap(heap, arch.memory, frames))).toEqual([]);
  });

  test("an overflow is reported by heapCheck before anything is freed", () => {
    const { heap, arch } = realHeap({ debug: true });
    const a = heap.kmalloc(100);
    const b = heap.kmalloc(7);
    arch.memory.write8(b + 9, 1);
    const report = heap.heapCheck();
    expect(report.ok).toBe(false);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]!.kind).toBe("red-zone");
    expect(report.problems[0]!.address).toBe(b + 9);
    expect(report.problems[0]!.message).toMatch(/\(7 bytes, owner "kernel"\) was written past its end at \+9/);
    expect(() => heap.heapCheck({ panic: true })).toThrow(/MEMORY_MANAGEMENT_ERROR.*heapCheck: Heap overflow/);
    expect(heap.sizeOf(a)).toBe(100);
  });

  test("krealloc checks the red zone of the block it resizes", () => {
    const { heap, arch } = realHeap({ debug: true });
    const p = heap.kmalloc(48);
    arch.memory.write8(p + 50, 0x99);
    expect(() => heap.krealloc(p, 100)).toThrow(/krealloc.*Heap overflow detected/);
  });

  test("freed memory is poisoned; a write after free is detected when the memory is handed out again", () => {
    const { heap, arch, frames } = realHeap({ debug: true });
    const p = heap.kmalloc(256);
    heap.kmalloc(16);
    heap.kfree(p);
    // The first payload word of a free block is its previous-free link; the rest is poison.
    expect(bytesAt(arch.memory, p + 4, 252).every((b) => b === Poison.free)).toBe(true);
    arch.memory.write32(p + 100, 0x12345678);
    expect(heap.heapCheck().problems.map((x) => x.kind)).toEqual(["poison"]);
    const before = snapshotHeap(heap, arch.memory, frames);
    expect(() => heap.kmalloc(200)).toThrow(
      /kmalloc: Write after free detected: 0x[0-9A-F]+ in the free block 0x[0-9A-F]+ .* is 0x78, freed memory should be 0x6b/,
    );
    expect(diffSnapshots(before, snapshotHeap(heap, arch.memory, frames))).toEqual([]);
  });

  test("a write after free into memory that a krealloc grows into is detected", () => {
    const { heap, arch } = realHeap({ debug: true });
    const p = heap.kmalloc(64);
    const q = heap.kmalloc(64);
    heap.kmalloc(16);
    heap.kfree(q);
    arch.memory.write8(q + 10, 0);
    expect(() => heap.krealloc(p, 128)).toThrow(/krealloc: Write after free detected/);
  });

  test("poison, red zones and headers stay consistent through merges, splits and in-place resizes", () => {
    const { heap } = realHeap({ debug: true });
    const blocks = Array.from({ length: 40 }, (_, i) => heap.kmalloc(17 * i));
    for (let i = 0; i < 40; i += 3) heap.kfree(blocks[i]!);
    for (let i = 1; i < 40; i += 3) blocks[i] = heap.krealloc(blocks[i]!, 5 * i);
    for (let i = 2; i < 40; i += 3) blocks[i] = heap.krealloc(blocks[i]!, 300 + i);
    expect(heap.heapCheck()).toMatchObject({ ok: true, problems: [] });
    for (let i = 1; i < 40; i += 3) heap.kfree(blocks[i]!);
    for (let i = 2; i < 40; i += 3) heap.kfree(blocks[i]!);
    expect(heap.heapCheck()).toMatchObject({ ok: true, liveBlocks: 0 });
  });
});

describe("heapCheck without debug mode", () => {
  test("finds a damaged header and names the block", () => {
    const { heap, arch } = realHeap();
    heap.kmalloc(10);
    const b = heap.kmalloc(20);
    arch.memory.write8(b - 1, 0);
    const report = heap.heapCheck();
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ kind: "header", address: b });
    expect(report.problems[0]!.message).toMatch(
      /the header of the block 0x[0-9A-F]+ \(20 bytes, owner "kernel"\) was overwritten \(magic/,
    );
  });

  test("reports a healthy heap as ok with its block counts", () => {
    const { heap } = realHeap();
    const a = heap.kmalloc(10);
    heap.kmalloc(20);
    heap.kfree(a);
    expect(heap.heapCheck()).toEqual({ ok: true, liveBlocks: 1, freeBlocks: 2, problems: [] });
  });
});
