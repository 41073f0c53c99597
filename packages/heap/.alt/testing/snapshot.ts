import { type FrameAllocator, type FrameStats, type HeapBlockInfo, PAGE_SIZE, type VirtualMemory } from "@ksim/core";
import type { Heap } from "../heap.js";
import type { HeapStatistics } from "../stats.js";

/** Everything observable about a heap: the bytes of its mapped range in simulated RAM and its reports. */
export interface HeapSnapshot {
  readonly bytes: Uint8Array;
  readonly stats: HeapStatistics;
  readonly blocks: readonly HeapBlockInfo[];
  readonly frames: FrameStats;
}

/**
 * Reads the heap's extent through `memory` and its reports, to compare before and after a call. Pages the heap gave
 * back (holes inside large free blocks) read as 0xEE, a value no mapped page is compared against by accident: a page
 * mapped or unmapped by the call shows as changed bytes.
 */
export function snapshotHeap(heap: Heap, memory: VirtualMemory, frames: FrameAllocator): HeapSnapshot {
  const stats = heap.stats();
  const bytes = new Uint8Array(stats.mappedBytes + stats.unmappedBytes);
  for (let offset = 0; offset < bytes.length; offset += PAGE_SIZE) {
    const page = bytes.subarray(offset, offset + PAGE_SIZE);
    if (memory.translate(heap.base + offset) < 0) page.fill(0xee);
    else memory.read(heap.base + offset, page);
  }
  return { bytes, stats, blocks: heap.blocks(), frames: frames.stats() };
}

/** What differs between two snapshots, as readable lines (empty when identical). Fast on large byte ranges. */
export function diffSnapshots(before: HeapSnapshot, after: HeapSnapshot): string[] {
  const lines: string[] = [];
  if (before.bytes.length !== after.bytes.length) {
    lines.push(`mapped bytes ${before.bytes.length} -> ${after.bytes.length}`);
  } else if (Buffer.compare(before.bytes, after.bytes) !== 0) {
    const at = before.bytes.findIndex((byte, i) => after.bytes[i] !== byte);
    lines.push(
      `heap byte +0x${at.toString(16)} changed 0x${before.bytes[at]!.toString(16)} -> 0x${after.bytes[at]!.toString(16)}`,
    );
  }
  for (const key of ["stats", "blocks", "frames"] as const) {
    const a = JSON.stringify(before[key]);
    const b = JSON.stringify(after[key]);
    if (a !== b) lines.push(`${key}: ${a} -> ${b}`);
  }
  return lines;
}
