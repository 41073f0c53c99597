import { checkInteger, checkPhysAddr, PAGE_SIZE, type PhysAddr } from "@ksim/core";
import type { BuddyAllocator } from "./buddy-allocator.js";

/**
 * The original kernel's `pmm_*` calls (hexahedron/mem/pmm.c) with their documented meaning, minus the quirks:
 * running out of memory returns 0 instead of panicking, asking for exactly the remaining memory works, and bad
 * input (0 blocks, misaligned or foreign addresses, double frees) throws a typed error instead of being ignored.
 */
export interface PmmApi {
  /** One frame's physical address, or 0 when none is free. */
  pmm_allocateBlock(): PhysAddr;
  /**
   * `blocks` physically contiguous frames, or 0 when no such run is free.
   * @throws InvalidArgumentError for 0, NaN, negative or fractional `blocks`.
   */
  pmm_allocateBlocks(blocks: number): PhysAddr;
  /** Frees one frame. @throws FrameError / InvalidArgumentError as `FrameAllocator.free`. */
  pmm_freeBlock(block: PhysAddr): void;
  /** Frees `blocks` frames from `base` (part or all of one run). @throws as `FrameAllocator.free`. */
  pmm_freeBlocks(base: PhysAddr, blocks: number): void;
  /**
   * Marks [base, base + size) available: every reserved frame in it is returned to the pool (frames already free
   * and frames that are not usable RAM are skipped, so boot code can pass whole firmware regions). Only whole frames
   * inside the range count. `size` 0 does nothing.
   * @throws FrameError (in-use) if a frame of the range is allocated; nothing changes then.
   */
  pmm_initializeRegion(base: PhysAddr, size: number): void;
  /**
   * Marks [base, base + size) unavailable: every free frame it touches is reserved (frames already reserved and
   * frames that are not usable RAM are skipped). `size` 0 does nothing.
   * @throws FrameError (in-use) if a frame of the range is allocated; nothing changes then.
   */
  pmm_deinitializeRegion(base: PhysAddr, size: number): void;
  /** The size of the physical address space the allocator indexes (up to the highest usable byte). */
  pmm_getPhysicalMemorySize(): number;
  /** Frames in that space (`pmm_getPhysicalMemorySize() / 4096`). */
  pmm_getMaximumBlocks(): number;
  /** Frames handed out and not yet freed (reserved frames are not counted, as in the original). */
  pmm_getUsedBlocks(): number;
  /** Frames that can be allocated now. */
  pmm_getFreeBlocks(): number;
}

/** Binds the C-named API to a {@link BuddyAllocator}. */
export function createPmmApi(pmm: BuddyAllocator): PmmApi {
  return {
    pmm_allocateBlock: () => pmm.allocFrame(),
    pmm_allocateBlocks(blocks) {
      const r = pmm.allocate({ count: blocks });
      return r.ok ? r.address : 0;
    },
    pmm_freeBlock: (block) => pmm.free(block, 1),
    pmm_freeBlocks: (base, blocks) => pmm.free(base, blocks),
    pmm_initializeRegion(base, size) {
      const [start, end] = regionFrames(base, size, "inward");
      pmm.setRegionAvailable(start * PAGE_SIZE, (end - start) * PAGE_SIZE, true);
    },
    pmm_deinitializeRegion(base, size) {
      const [start, end] = regionFrames(base, size, "outward");
      pmm.setRegionAvailable(start * PAGE_SIZE, (end - start) * PAGE_SIZE, false);
    },
    pmm_getPhysicalMemorySize: () => pmm.frameLimit * PAGE_SIZE,
    pmm_getMaximumBlocks: () => pmm.frameLimit,
    pmm_getUsedBlocks: () => pmm.allocatedFrames,
    pmm_getFreeBlocks: () => pmm.stats().freeFrames,
  };
}

/** Validates a region and rounds it to whole frames. */
function regionFrames(base: number, size: number, rounding: "inward" | "outward"): [number, number] {
  checkPhysAddr("base", base);
  checkInteger("size", size, 0);
  const end = base + size;
  return rounding === "inward"
    ? [Math.ceil(base / PAGE_SIZE), Math.max(Math.ceil(base / PAGE_SIZE), Math.floor(end / PAGE_SIZE))]
    : [Math.floor(base / PAGE_SIZE), Math.ceil(end / PAGE_SIZE)];
}
