import { X86_64 } from "@ksim/arch-x86_64";
import type { OwnerContext, VirtualMemory } from "@ksim/core";
import { Machine } from "@ksim/machine";
import { BuddyAllocator } from "@ksim/pmm";
import { Heap, type HeapOptions } from "../heap.js";

/** A heap on the real stack: a simulated machine's RAM, the buddy frame allocator and x86-64 paging. */
export interface RealHeapFixture {
  readonly heap: Heap;
  readonly machine: Machine;
  readonly frames: BuddyAllocator;
  readonly arch: X86_64;
}

/** Boots a machine with `ramSize` bytes (default 64 MiB) and builds a heap in the arch's heap window. */
export function realHeap(
  options: Partial<Omit<HeapOptions, "memory" | "frames" | "window">> & {
    ramSize?: number;
    owners?: OwnerContext;
    /** Wraps the arch's memory before the heap gets it (e.g. to hide pageView). */
    wrapMemory?: (memory: VirtualMemory) => VirtualMemory;
  } = {},
): RealHeapFixture {
  const { ramSize = 64 * 1024 * 1024, wrapMemory = (memory) => memory, ...heapOptions } = options;
  const machine = new Machine({ ramSize });
  const frames = new BuddyAllocator(machine.firmwareMemoryMap);
  const arch = new X86_64({ memory: machine.memory, frames });
  const heap = new Heap({
    ...heapOptions,
    memory: wrapMemory(arch.memory),
    frames,
    window: arch.layout.heap,
    formatAddress: (address) => arch.formatAddress(address),
  });
  return { heap, machine, frames, arch };
}
