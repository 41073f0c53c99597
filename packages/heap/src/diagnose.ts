import type { VirtAddr } from "@ksim/core";
import { HEADER_SIZE } from "./header.js";
import { Flag, GRANULE, type TlsfIndex } from "./tlsf.js";

/** What {@link describeBadPointer} needs to know about the heap. */
export interface PointerContext {
  readonly index: TlsfIndex;
  readonly base: VirtAddr;
  readonly capacity: number;
  readonly format: (address: VirtAddr) => string;
}

/** `the block 0xFFFFFF0000000010 (24 bytes, owner "kernel")` */
export function describeBlock(pointer: string, size: number, ownerName: string): string {
  return `the block ${pointer} (${size} bytes, owner ${JSON.stringify(ownerName)})`;
}

/**
 * Why `pointer` is not the pointer of a live block, in the original kernel's words ("Invalid free detected",
 * "Multiple free detected") followed by the detail. The slow path of kfree and krealloc: it may walk a block.
 * `describe(block)` names a live block.
 */
export function describeBadPointer(
  context: PointerContext,
  pointer: VirtAddr,
  describe: (block: number) => string,
): string {
  const { index, base, capacity, format } = context;
  const end = base + capacity;
  if (pointer < base || pointer >= end) {
    return `Invalid free detected: not a heap pointer (the heap window is ${format(base)}-${format(end - 1)})`;
  }
  // The header granule a block with this pointer would have, and the block the address itself lies in.
  const offset = pointer - base - HEADER_SIZE;
  const granule = offset / GRANULE;
  const flags = offset >= 0 && Number.isInteger(granule) && granule < index.capacity ? index.flagsOf(granule) : 0;
  const container = index.blockContaining(Math.floor((pointer - base) / GRANULE));
  const inLive = container >= 0 && (index.flagsOf(container) & Flag.Live) !== 0;
  if ((flags & Flag.Handed) !== 0) {
    const now = inLive
      ? `; its memory now belongs to ${describe(container)}`
      : container >= 0
        ? " and its memory is free"
        : " and its memory has been given back to the frame allocator";
    return `Multiple free detected: the block at ${format(pointer)} was already freed${now}`;
  }
  if (pointer >= base + index.top * GRANULE) {
    return `Invalid free detected: not a block of this heap (above the heap's break ${format(base + index.top * GRANULE)})`;
  }
  if (inLive) {
    return `Invalid free detected: points inside ${describe(container)}, not at its start`;
  }
  if (container >= 0) {
    const from = base + container * GRANULE;
    const to = from + index.sizeOf(container) * GRANULE;
    return `Invalid free detected: points into free heap memory (${format(from)}-${format(to - 1)}), never a block`;
  }
  return "Invalid free detected: not a block of this heap";
}
