import type { FrameAllocator, PhysicalMemory } from "@ksim/core";
import { Machine } from "@ksim/machine";
import { BuddyAllocator } from "@ksim/pmm";
import { X86_64, type X86_64Options } from "../x86-64.js";
import { FailingFrames } from "./failing-frames.js";

const MiB = 1024 * 1024;

/**
 * A small machine for tests: `@ksim/machine`'s board and `@ksim/pmm`'s buddy allocator, the allocator wrapped so
 * tests can make allocation number k fail. The frames come from the top of RAM, so low physical addresses below
 * 640 KiB (0x1000-0x9FFFF) are free for tests to poke at.
 */
export interface TestRig {
  readonly arch: X86_64;
  readonly machine: Machine;
  readonly memory: PhysicalMemory;
  readonly frames: FailingFrames;
}

/** Boots an {@link X86_64} on a machine with `ramMiB` MiB of RAM. */
export function bootTestArch(ramMiB = 16, options: Partial<X86_64Options> = {}): TestRig {
  const machine = new Machine({ ramSize: ramMiB * MiB });
  const frames = new FailingFrames(new BuddyAllocator(machine.firmwareMemoryMap));
  const arch = new X86_64({ memory: machine.memory, frames, ...options });
  return { arch, machine, memory: machine.memory, frames };
}

/**
 * Everything a failed call must leave as it was: the allocator's counts, the set of table frames and the bytes of
 * every one of them, and the list of directories.
 */
export function snapshot(arch: X86_64, frames: FrameAllocator, memory: PhysicalMemory): string {
  const stats = frames.stats();
  const tables = [...arch.tables.tables.keys()].sort((a, b) => a - b);
  const parts: string[] = [
    `free=${stats.freeFrames} used=${stats.usedFrames}`,
    `dirs=${arch.listDirectories().join(",")}`,
  ];
  const page = new Uint8Array(4096);
  for (const table of tables) {
    memory.read(table, page);
    let hash = 2166136261;
    for (let i = 0; i < page.length; i++) hash = Math.imul(hash ^ page[i]!, 16777619);
    parts.push(`${table.toString(16)}:${(hash >>> 0).toString(16)}`);
  }
  return parts.join(" ");
}
