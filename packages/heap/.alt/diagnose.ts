import type { VirtAddr } from "@ksim/core";
import { FIRST_BLOCK, GRANULE, HEADER_SIZE, SIZE_MASK } from "./layout.js";
import type { HeapShadow } from "./shadow.js";
import type { Tlsf } from "./tlsf.js";

/** What {@link describeBadPointer} needs to know about the heap. */
export interface PointerContext {
  readonly tlsf: Tlsf;
  readonly shadow: HeapShadow;
  readonly capacity: number;
  readonly format: (address: VirtAddr) => string;
}

/** `the block 0xFFFFFF0000000010 (24 bytes, owner "kernel")`; `size` null when the header cannot tell it. */
export function describeBlock(pointer: string, size: number | null, ownerName: string): string {
  const bytes = size === null ? "size unknown: its header is damaged" : `${size} bytes`;
  return `the block ${pointer} (${bytes}, owner ${JSON.stringify(ownerName)})`;
}

/**
 * Why `pointer` is not the pointer of a live block, in the original kernel's words ("Invalid free detected",
 * "Multiple free detected") followed by the detail. The slow path of kfree and krealloc: it may walk the blocks.
 * The verdict comes from the shadow (where live blocks start, where blocks were handed out); the walk through the
 * headers in RAM only adds which block the address lies in, when the headers allow. `describe(block)` names a live
 * block.
 */
export function describeBadPointer(
  context: PointerContext,
  pointer: VirtAddr,
  describe: (block: number) => string,
): string {
  const { tlsf, shadow, capacity, format } = context;
  const base = tlsf.base;
  const end = base + capacity;
  if (pointer < base || pointer >= end) {
    return `Invalid free detected: not a heap pointer (the heap window is ${format(base)}-${format(end - 1)})`;
  }
  // The header granule a block with this pointer would have, and the block the address itself lies in.
  const offset = pointer - base - HEADER_SIZE;
  const granule = offset / GRANULE;
  const handed = offset >= 0 && Number.isInteger(granule) && shadow.wasHanded(granule);
  const container = tlsf.blockContaining(Math.floor((pointer - base) / GRANULE));
  const inLive = container >= 0 && shadow.isLive(container);
  if (handed) {
    const now = inLive
      ? `; its memory now belongs to ${describe(container)}`
      : container >= 0
        ? " and its memory is free"
        : " and its memory has been given back to the frame allocator";
    return `Multiple free detected: the block at ${format(pointer)} was already freed${now}`;
  }
  const top = base + tlsf.top * GRANULE;
  if (pointer >= top) {
    return `Invalid free detected: not a block of this heap (above the heap's break ${format(top)})`;
  }
  if (pointer < base + FIRST_BLOCK * GRANULE) {
    return "Invalid free detected: points into the heap's control block (its free-list heads and bitmaps)";
  }
  if (inLive) {
    return `Invalid free detected: points inside ${describe(container)}, not at its start`;
  }
  if (container >= 0) {
    const from = tlsf.addressOf(container);
    const to = from + (tlsf.sizeWord(container) & SIZE_MASK) * GRANULE;
    return `Invalid free detected: points into free heap memory (${format(from)}-${format(to - 1)}), never a block`;
  }
  return "Invalid free detected: not a block of this heap";
}
