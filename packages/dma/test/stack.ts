// The machine the DMA tests run on: a real board (@ksim/machine), the real buddy frame allocator (@ksim/pmm) and an
// architecture, with each user of the frame allocator behind its own TrackingFrames so that leaks show by owner.

import { X86_64 } from "@ksim/arch-x86_64";
import {
  Access,
  bindMemoryApi,
  type MemoryTypeValue,
  type OwnerContext,
  type PhysAddr,
  type VirtAddr,
  type VirtualWindow,
} from "@ksim/core";
import { Machine } from "@ksim/machine";
import { BuddyAllocator } from "@ksim/pmm";
import { Dma } from "../src/index.js";
import { TrackingFrames } from "../src/testing/tracking-frames.js";

export const PAGE = 0x1000;
export const MiB = 0x10_0000;

/** What a page's mapping says, read back from the architecture. */
export interface PageView {
  readonly phys: PhysAddr;
  readonly writable: boolean;
  readonly user: boolean;
  readonly executable: boolean;
  readonly memoryType: MemoryTypeValue;
}

export interface Stack {
  readonly machine: Machine;
  readonly buddy: BuddyAllocator;
  /** The frames the architecture took (page tables). */
  readonly archFrames: TrackingFrames;
  /** The frames the DMA layer took (buffers). */
  readonly dmaFrames: TrackingFrames;
  readonly arch: X86_64;
  readonly dma: Dma;
  /** mem_getPhysicalAddress(NULL, virt). */
  physicalAddress(virt: VirtAddr): PhysAddr;
  /** The mapping of `virt` in kernel mode, or null when the page is not mapped. */
  page(virt: VirtAddr): PageView | null;
}

export interface StackOptions {
  readonly ramSize?: number;
  readonly guardPages?: boolean;
  readonly windows?: { readonly dma?: VirtualWindow; readonly mmio?: VirtualWindow };
  readonly owners?: OwnerContext;
}

export function makeStack(options: StackOptions = {}): Stack {
  const machine = new Machine({ ramSize: options.ramSize ?? 32 * MiB });
  const buddy = new BuddyAllocator(machine.firmwareMemoryMap);
  const archFrames = new TrackingFrames(buddy);
  const dmaFrames = new TrackingFrames(buddy);
  const arch = new X86_64({ memory: machine.memory, frames: archFrames });
  const dma = new Dma({
    arch,
    frames: dmaFrames,
    owners: options.owners,
    guardPages: options.guardPages,
    windows: options.windows,
  });
  const api = bindMemoryApi(arch);
  return {
    machine,
    buddy,
    archFrames,
    dmaFrames,
    arch,
    dma,
    physicalAddress: (virt) => api.mem_getPhysicalAddress(null, virt),
    page: (virt) => {
      // What the MMU itself says (a kernel read; the walk also proves a user access would be refused below).
      const phys = arch.mmu.translate(virt, Access.Read, false);
      if (phys < 0) return null;
      const t = arch.mmu.lastTranslation;
      return {
        phys,
        writable: t.writable,
        user: t.user,
        executable: t.executable,
        memoryType: t.memoryType,
      };
    },
  };
}

/** Takes every free frame but `keep` from the allocator (through `frames`), so a test can run it dry. */
export function drainFrames(frames: TrackingFrames, keep = 0): PhysAddr[] {
  const taken: PhysAddr[] = [];
  while (frames.stats().freeFrames > keep) {
    const frame = frames.allocFrame();
    if (frame === 0) break;
    taken.push(frame);
  }
  return taken;
}
