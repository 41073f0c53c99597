import { KernelPanic } from "@ksim/core";
import { expect } from "vitest";
import type { RealHeapFixture } from "./real-stack.js";
import { diffSnapshots, snapshotHeap } from "./snapshot.js";

/**
 * Runs `bad` (a call that must panic), checks it throws a MEMORY_MANAGEMENT_ERROR KernelPanic whose message matches
 * `message`, and that the heap is byte-identical afterwards (RAM, reports, frames). Returns the panic.
 */
export function expectPanicAndNoChange(fixture: RealHeapFixture, bad: () => unknown, message: RegExp): KernelPanic {
  const { heap, arch, frames } = fixture;
  const before = snapshotHeap(heap, arch.memory, frames);
  let thrown: unknown;
  try {
    bad();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(KernelPanic);
  const panic = thrown as KernelPanic;
  expect(panic.stopName).toBe("MEMORY_MANAGEMENT_ERROR");
  expect(panic.message).toMatch(message);
  expect(diffSnapshots(before, snapshotHeap(heap, arch.memory, frames))).toEqual([]);
  return panic;
}
