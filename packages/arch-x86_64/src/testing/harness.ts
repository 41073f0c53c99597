import type { FrameAllocator, PhysicalMemory } from "@ksim/core";
import { X86_64, type X86_64Options } from "../x86-64.js";
import { FailingFrames } from "./failing-frames.js";
import { FlatMemory } from "./flat-memory.js";
import { FreeListFrames } from "./free-list-frames.js";

const MiB = 1024 * 1024;

/** A small machine for tests: flat RAM, a free-list allocator above 1 MiB, wrapped for exhaustion injection. */
export interface TestRig {
  readonly arch: X86_64;
  readonly memory: FlatMemory;
  readonly frames: FailingFrames;
}

/** Boots an {@link X86_64} over `ramMiB` MiB of flat RAM (frames from 1 MiB up). */
export function bootTestArch(ramMiB = 16, options: Partial<X86_64Options> = {}): TestRig {
  const memory = new FlatMemory(ramMiB * MiB);
  const frames = new FailingFrames(new FreeListFrames(MiB, (ramMiB - 1) * MiB));
  const arch = new X86_64({ memory, frames, ...options });
  return { arch, memory, frames };
}

/**
 * Everything a failed call must leave as it was: the allocator's counts, the set of table frames and the bytes of
 * every one of them, and the list of directories.
 */
export function snapshot(arch: X86_64, frames: FrameAllocator, memory: PhysicalMemory): string {
  const stats = frames.stats();
  const tables = [...arch.tables.tables.keys()].sort((a, b) => a - b);
  const parts: string[] = [`free=${stats.freeFrames} used=${stats.usedFrames}`, `dirs=${arch.listDirectories().join(",")}`];
  const page = new Uint8Array(4096);
  for (const table of tables) {
    memory.read(table, page);
    let hash = 2166136261;
    for (let i = 0; i < page.length; i++) hash = Math.imul(hash ^ page[i]!, 16777619);
    parts.push(`${table.toString(16)}:${(hash >>> 0).toString(16)}`);
  }
  return parts.join(" ");
}
