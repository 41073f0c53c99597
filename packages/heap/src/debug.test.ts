import { KernelPanic } from "@ksim/core";
import { describe, expect, test } from "vitest";
import { Poison } from "./debug.js";
import { QUARANTINE_OBJECTS } from "./quarantine.js";
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
      /kfree\(0x[0-9A-F]+\): Heap overflow detected: the block 0x[0-9A-F]+ \(32 bytes, owner "Example Driver \(example\.sys\)"\) was written past its end: byte \+32 of its red zone reads 0x0/,
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

  test("freed memory is poisoned and quarantined; a write after free is caught when the object leaves the quarantine", () => {
    const { heap, arch, frames } = realHeap({ debug: true });
    const p = heap.kmalloc(256); // kmalloc-288: with its red zone it needs 272 bytes
    const others = Array.from({ length: QUARANTINE_OBJECTS }, () => heap.kmalloc(256));
    heap.kfree(p);
    expect(bytesAt(arch.memory, p, 288).every((b) => b === Poison.free)).toBe(true);
    arch.memory.write32(p + 100, 0x12345678);
    expect(heap.heapCheck().problems.map((x) => x.kind)).toEqual(["poison"]);
    expect(heap.heapCheck().problems[0]!.message).toMatch(/byte \+100 .* is 0x78, freed memory should be 0x6b/);
    // The quarantine holds QUARANTINE_OBJECTS objects: the free that would push p out checks it first.
    for (const q of others.slice(0, QUARANTINE_OBJECTS - 1)) heap.kfree(q);
    const before = snapshotHeap(heap, arch.memory, frames);
    expect(() => heap.kfree(others[QUARANTINE_OBJECTS - 1]!)).toThrow(
      /kfree: Heap corruption detected at the free object at 0x[0-9A-F]+ \(kmalloc-288\): Write after free detected: byte \+100 is 0x78, freed memory should be 0x6b/,
    );
    expect(diffSnapshots(before, snapshotHeap(heap, arch.memory, frames))).toEqual([]);
  });

  test("a write after free is also caught when the object is handed out again", () => {
    const { heap, arch } = realHeap({ debug: true });
    const keep = heap.kmalloc(64);
    const q = heap.kmalloc(64);
    heap.kfree(q);
    // Push q through the quarantine and back onto its list (the objects freed after it stay quarantined).
    const fillers = Array.from({ length: QUARANTINE_OBJECTS }, () => heap.kmalloc(1000));
    for (const f of fillers) heap.kfree(f);
    expect(heap.stats().quarantinedObjects).toBe(QUARANTINE_OBJECTS);
    arch.memory.write8(q + 10, 0);
    expect(() => heap.kmalloc(64)).toThrow(
      /kmalloc: Heap corruption detected at the free object at .*Write after free detected: byte \+10 is 0x0/,
    );
    expect(heap.sizeOf(keep)).toBe(64);
  });

  test("poison, red zones and headers stay consistent through frees, moves and in-place resizes", () => {
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
    arch.memory.write8(b - 16, 0);
    const report = heap.heapCheck();
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ kind: "header", address: b });
    expect(report.problems[0]!.message).toMatch(
      /the header of the block 0x[0-9A-F]+ \(size and owner unknown: its header is damaged\) was overwritten/,
    );
  });

  test("reports a healthy heap as ok with its block counts", () => {
    const { heap } = realHeap();
    const a = heap.kmalloc(10);
    heap.kmalloc(20);
    heap.kfree(a);
    // kmalloc-16 holds 128 objects per slab, kmalloc-32 85.
    expect(heap.heapCheck()).toEqual({
      ok: true,
      liveBlocks: 1,
      freeObjects: 128 + 84,
      slabs: 2,
      largeBlocks: 0,
      problems: [],
    });
  });
});
