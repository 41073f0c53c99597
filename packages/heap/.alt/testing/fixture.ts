import type { OwnerContext, VirtualWindow } from "@ksim/core";
import { Heap, type HeapOptions } from "../heap.js";
import { FakeFrames } from "./fake-frames.js";
import { FakeMemory } from "./fake-memory.js";

/** The original kernel's heap window base (0xFFFFFF0000000000) as a linear address. */
export const HEAP_BASE = 0xff00_0000_0000;

/** A heap over the test doubles, with everything a test wants to poke at. */
export interface FakeHeapFixture {
  readonly heap: Heap;
  readonly memory: FakeMemory;
  readonly frames: FakeFrames;
  readonly window: VirtualWindow;
}

/** Builds a heap on {@link FakeMemory} and {@link FakeFrames} with `frames` frames (default 4096 = 16 MiB). */
export function fakeHeap(
  options: Partial<Omit<HeapOptions, "memory" | "frames">> & { frames?: number; owners?: OwnerContext } = {},
): FakeHeapFixture {
  const frames = new FakeFrames(options.frames ?? 4096);
  const memory = new FakeMemory(frames.physicalSize);
  const window = options.window ?? { name: "heap", base: HEAP_BASE, size: 0x80_0000_0000 };
  const heap = new Heap({ ...options, memory, frames, window });
  return { heap, memory, frames, window };
}
