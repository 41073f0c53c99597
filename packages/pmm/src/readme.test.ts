import { MemoryRegionType } from "@ksim/core";
import { expect, it } from "vitest";
import { BuddyAllocator, createPmmApi } from "./index.js";

// The README's example, with its printed results checked.
it("the README example prints what the README says", () => {
  const MiB = 2 ** 20;
  const GiB = 2 ** 30;
  const pmm = new BuddyAllocator([
    { base: 0, length: MiB, type: MemoryRegionType.Reserved },
    { base: MiB, length: 2 * GiB - MiB, type: MemoryRegionType.Usable },
    { base: 4 * GiB, length: 2 * GiB, type: MemoryRegionType.Usable },
  ]);
  pmm.reserve(MiB, 300 * 1024);
  const frame = pmm.allocFrame();
  expect(frame).toBeGreaterThanOrEqual(4 * GiB);
  const dma = pmm.allocate({ count: 3, align: 2 * MiB, limit: 2 ** 32 });
  expect(dma.ok && dma.address.toString(16)).toBe("1e00000");
  const isa = pmm.allocate({ count: 2, limit: 16 * MiB });
  expect(isa.ok && isa.address + 2 * 4096 <= 16 * MiB).toBe(true);
  pmm.retain(frame);
  pmm.release(frame);
  pmm.free(frame);
  if (dma.ok) pmm.free(dma.address + 4096, 2);
  expect(() => pmm.free(frame)).toThrow("frame 0x17FFFF000: double free: the frame is already free");
  const lines = pmm.formatBuddyInfo().split("\n");
  expect(lines[0]).toMatch(/^Node 0, zone {6}DMA {6}1 {6}1 {6}0 {6}0 {6}1 {6}1 {6}0 {6}1 /);
  expect(lines[1]).toMatch(/^Node 0, zone {4}DMA32( {6}1){12} /);
  expect(lines[2]).toMatch(/^Node 0, zone {3}Normal( {6}0){5}( {6}1){7} /);
  expect(pmm.dump()).toContain("524032 frames: 523954 free, 3 allocated, 75 reserved");
  const c = createPmmApi(pmm);
  const block = c.pmm_allocateBlock();
  const blocks = c.pmm_allocateBlocks(16);
  c.pmm_freeBlocks(blocks, 16);
  c.pmm_freeBlock(block);
  expect([c.pmm_getFreeBlocks(), c.pmm_getUsedBlocks(), c.pmm_getMaximumBlocks()]).toEqual([1048242, 3, 1572864]);
});
