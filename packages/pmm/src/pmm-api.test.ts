import { FrameError, InvalidArgumentError, MemoryRegionType, PAGE_SIZE } from "@ksim/core";
import { describe, expect, it } from "vitest";
import { BuddyAllocator } from "./buddy-allocator.js";
import { SMALL_MAP } from "./conformance.js";
import { createPmmApi } from "./pmm-api.js";
import { deepEqual } from "./reference-model.js";

const MiB = 0x10_0000;

function boot() {
  const pmm = new BuddyAllocator(SMALL_MAP);
  return { pmm, c: createPmmApi(pmm) };
}

describe("pmm_* facade", () => {
  it("pmm_allocateBlock hands out distinct frames and returns 0 (not a panic) when memory runs out", () => {
    const { pmm, c } = boot();
    const seen = new Set<number>();
    for (let x = c.pmm_allocateBlock(); x !== 0; x = c.pmm_allocateBlock()) seen.add(x);
    expect(seen.size).toBe(pmm.stats().usableFrames);
    expect(c.pmm_getFreeBlocks()).toBe(0);
    expect(c.pmm_allocateBlock()).toBe(0);
    expect(c.pmm_allocateBlocks(3)).toBe(0);
  });

  it("pmm_allocateBlocks of exactly the remaining frames works (the original panicked)", () => {
    const pmm = new BuddyAllocator([{ base: MiB, length: 8 * MiB, type: MemoryRegionType.Usable }]);
    const c = createPmmApi(pmm);
    expect(c.pmm_getFreeBlocks()).toBe(2048);
    expect(c.pmm_allocateBlocks(2048)).toBe(MiB);
    expect(c.pmm_getFreeBlocks()).toBe(0);
    expect(c.pmm_getUsedBlocks()).toBe(2048);
    c.pmm_freeBlocks(MiB, 2048);
    expect(c.pmm_allocateBlocks(2049)).toBe(0);
  });

  it("pmm_allocateBlocks(0), NaN, negative or fractional throws InvalidArgumentError and changes nothing", () => {
    const { pmm, c } = boot();
    const before = pmm.snapshot();
    for (const bad of [0, Number.NaN, -1, 2.5]) expect(() => c.pmm_allocateBlocks(bad)).toThrow(InvalidArgumentError);
    expect(deepEqual(pmm.snapshot(), before)).toBe(true);
  });

  it("pmm_freeBlock/pmm_freeBlocks reject misaligned addresses and double frees instead of ignoring them", () => {
    const { pmm, c } = boot();
    const x = c.pmm_allocateBlocks(4);
    const before = pmm.snapshot();
    expect(() => c.pmm_freeBlock(x + 12)).toThrow(FrameError);
    expect(() => c.pmm_freeBlocks(x, 0)).toThrow(InvalidArgumentError);
    expect(() => c.pmm_freeBlocks(x, 5)).toThrow(FrameError);
    expect(deepEqual(pmm.snapshot(), before)).toBe(true);
    c.pmm_freeBlocks(x + PAGE_SIZE, 3);
    c.pmm_freeBlock(x);
    expect(() => c.pmm_freeBlock(x)).toThrow(/double free/);
    expect(c.pmm_getUsedBlocks()).toBe(0);
  });

  it("boots like the original: deinitialize the kernel image, then initialize it back", () => {
    const { pmm, c } = boot();
    const free = c.pmm_getFreeBlocks();
    // The kernel image at 1 MiB, 300 KiB and a bit: every frame it touches is taken out.
    c.pmm_deinitializeRegion(MiB, 300 * 1024 + 10);
    expect(c.pmm_getFreeBlocks()).toBe(free - 76);
    expect(pmm.stats().reservedFrames).toBe(76);
    expect(c.pmm_getUsedBlocks()).toBe(0); // reserved frames are not "used blocks", as in the original
    // Idempotent, and regions that include non-RAM (the first MiB, ACPI) are fine.
    c.pmm_deinitializeRegion(0, 2 * MiB);
    expect(pmm.stats().reservedFrames).toBe(256);
    c.pmm_initializeRegion(0, 64 * MiB);
    expect(c.pmm_getFreeBlocks()).toBe(free);
    c.pmm_deinitializeRegion(MiB, 0); // size 0: nothing
    expect(c.pmm_getFreeBlocks()).toBe(free);
  });

  it("region calls refuse ranges holding allocated frames and change nothing", () => {
    const { pmm, c } = boot();
    const x = c.pmm_allocateBlock();
    const before = pmm.snapshot();
    expect(() => c.pmm_deinitializeRegion(x - PAGE_SIZE, 3 * PAGE_SIZE)).toThrow(FrameError);
    expect(() => c.pmm_initializeRegion(x, PAGE_SIZE)).toThrow(FrameError);
    expect(() => c.pmm_initializeRegion(Number.NaN, PAGE_SIZE)).toThrow(InvalidArgumentError);
    expect(() => c.pmm_deinitializeRegion(MiB, -1)).toThrow(InvalidArgumentError);
    expect(deepEqual(pmm.snapshot(), before)).toBe(true);
  });

  it("reports sizes the way the original's getters do", () => {
    const pmm = new BuddyAllocator([{ base: 0, length: 64 * MiB, type: MemoryRegionType.Usable }]);
    const c = createPmmApi(pmm);
    expect(c.pmm_getPhysicalMemorySize()).toBe(64 * MiB);
    expect(c.pmm_getMaximumBlocks()).toBe((64 * MiB) / PAGE_SIZE);
    expect(c.pmm_getFreeBlocks()).toBe((63 * MiB) / PAGE_SIZE);
    c.pmm_allocateBlocks(10);
    expect(c.pmm_getUsedBlocks()).toBe(10);
    expect(c.pmm_getFreeBlocks()).toBe((63 * MiB) / PAGE_SIZE - 10);
  });
});
