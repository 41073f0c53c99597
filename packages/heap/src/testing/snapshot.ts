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
 * Reads every mapped page of the heap's used window through `memory` (control page, descriptors, slabs, large
 * blocks) with its offset, and the heap's reports, to compare before and after a call: a page mapped or unmapped by
 * the call shows as changed bytes.
 */
export function snapshotHeap(heap: Heap, memory: VirtualMemory, frames: FrameAllocator): HeapSnapshot {
  const stats = heap.stats();
  const mapped: number[] = [];
  for (let offset = 0; offset < stats.windowBytes; offset += PAGE_SIZE) {
    if (memory.translate(heap.base + offset) >= 0) mapped.push(offset);
  }
  // Each mapped page's offset (8 bytes) then its bytes: a page mapped or unmapped by a call changes the layout.
  const bytes = new Uint8Array(mapped.length * (PAGE_SIZE + 8));
  const offsets = new DataView(bytes.buffer);
  mapped.forEach((offset, i) => {
    const at = i * (PAGE_SIZE + 8);
    offsets.setFloat64(at, offset);
    memory.read(heap.base + offset, bytes.subarray(at + 8, at + 8 + PAGE_SIZE));
  });
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
