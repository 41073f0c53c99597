import {
  checkAligned,
  checkInteger,
  type FrameAllocator,
  InvalidArgumentError,
  type OwnerContext,
  PAGE_SIZE,
  type VirtAddr,
  type VirtualMemory,
  type VirtualWindow,
} from "@ksim/core";
import { firstDataPage, MAX_REACH } from "./layout.js";

/** Options of `Heap`. */
export interface HeapOptions {
  /** Kernel-mode virtual memory: the heap's control page, descriptors, headers and data live there. */
  readonly memory: VirtualMemory;
  /** Where the heap gets frames when it grows, and gives them back when it shrinks. */
  readonly frames: FrameAllocator;
  /**
   * The virtual window the heap lives in (an arch's `layout.heap`): base and size page-aligned, at least 32 MiB
   * for a useful heap (the first 16 MiB of a 4 GiB window are page descriptors, mapped as needed). The heap uses at
   * most the first 4 GiB (its links are 32-bit offsets).
   */
  readonly window: VirtualWindow;
  /** Who is allocating: every block is tagged with `owners.current()`. Default: everything is the kernel's. */
  readonly owners?: OwnerContext;
  /**
   * Debug mode (in the spirit of KASAN and SLUB debugging): a red zone after every block, checked on kfree,
   * krealloc and heapCheck; freed objects poisoned, held in a quarantine and checked when they are handed out again;
   * new blocks filled with a marker byte. Slower. Default false.
   */
  readonly debug?: boolean;
  /** How addresses are printed in panics. Default: x86-64 canonical form (`0xFFFFFF0000001010`). */
  readonly formatAddress?: (address: VirtAddr) => string;
}

/**
 * Checks the window and returns the pages of it the heap uses.
 * @throws InvalidArgumentError for a base or size that is not page-aligned, or a window too small for one slab.
 */
export function checkWindow(window: VirtualWindow): number {
  checkInteger("window.base", window.base);
  checkAligned("window.base", window.base, PAGE_SIZE);
  checkInteger("window.size", window.size, 1);
  checkAligned("window.size", window.size, PAGE_SIZE);
  const pages = Math.min(window.size, MAX_REACH) / PAGE_SIZE;
  if (pages < firstDataPage(pages) + 64) {
    throw new InvalidArgumentError("window.size", window.size, "too small for the control page, descriptors and slabs");
  }
  return pages;
}

/** The edge check's slow path: `checkInteger` throws the error that names the problem. */
export function badSize(argument: string, value: number): InvalidArgumentError {
  checkInteger(argument, value);
  return new InvalidArgumentError(argument, value, "not a non-negative integer");
}
