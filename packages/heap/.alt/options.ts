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

/** Options of `Heap`. Sizes are bytes, page multiples. */
export interface HeapOptions {
  /** Kernel-mode virtual memory: the heap's control block, headers and data live there. */
  readonly memory: VirtualMemory;
  /** Where the heap gets frames when it grows, and gives them back when it shrinks. */
  readonly frames: FrameAllocator;
  /** The virtual window the heap lives in (an arch's `layout.heap`). Base page-aligned. */
  readonly window: VirtualWindow;
  /** Who is allocating: every block is tagged with `owners.current()`. Default: everything is the kernel's. */
  readonly owners?: OwnerContext;
  /**
   * Debug mode (in the spirit of KASAN and SLUB debugging): a red zone after every block, checked on kfree,
   * krealloc and heapCheck; freed memory poisoned and checked when it is handed out again; new blocks filled with
   * a marker byte. Slower. Default false.
   */
  readonly debug?: boolean;
  /** How addresses are printed in panics. Default: x86-64 canonical form (`0xFFFFFF0000001010`). */
  readonly formatAddress?: (address: VirtAddr) => string;
  /** Bytes mapped when the heap is created; it never shrinks below this. Default 64 KiB (liballoc's 16 pages). */
  readonly initialBytes?: number;
  /** Least bytes mapped at a time when the heap grows. Default 64 KiB. */
  readonly growBytes?: number;
  /** Free bytes at the top of the heap above which whole pages are given back. Default 128 KiB. */
  readonly trimThreshold?: number;
  /** Free bytes kept at the top when pages are given back. Default 64 KiB. */
  readonly topPad?: number;
}

/** The size options of {@link HeapOptions}, checked, in pages or bytes. */
export interface HeapSizing {
  readonly initialPages: number;
  readonly growPages: number;
  readonly trimThreshold: number;
  readonly topPad: number;
}

/**
 * Checks the window and the size options.
 * @throws InvalidArgumentError for a window or size that is not page-aligned, or an initial size beyond `capacity`.
 */
export function checkSizing(options: HeapOptions, capacity: number): HeapSizing {
  checkPageMultiple("window.base", options.window.base, true);
  checkPageMultiple("window.size", options.window.size, false);
  const initialBytes = checkPageMultiple("initialBytes", options.initialBytes ?? 0x1_0000, true);
  const sizing = {
    initialPages: initialBytes / PAGE_SIZE,
    growPages: checkPageMultiple("growBytes", options.growBytes ?? 0x1_0000, false) / PAGE_SIZE,
    trimThreshold: checkPageMultiple("trimThreshold", options.trimThreshold ?? 0x2_0000, true),
    topPad: checkPageMultiple("topPad", options.topPad ?? 0x1_0000, true),
  };
  if (initialBytes > capacity) {
    throw new InvalidArgumentError("initialBytes", initialBytes, "larger than the heap window");
  }
  return sizing;
}

function checkPageMultiple(argument: string, value: number, allowZero: boolean): number {
  checkInteger(argument, value, allowZero ? 0 : 1);
  return checkAligned(argument, value, PAGE_SIZE);
}

/** The edge check's slow path: `checkInteger` throws the error that names the problem. */
export function badSize(argument: string, value: number): InvalidArgumentError {
  checkInteger(argument, value);
  return new InvalidArgumentError(argument, value, "not a non-negative integer");
}
