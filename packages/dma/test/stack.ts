// The machine the DMA tests run on: a real board (@ksim/machine), the real buddy frame allocator (@ksim/pmm) and an
// architecture, with each user of the frame allocator behind its own TrackingFrames so that leaks show by owner.
import type { MemoryTypeValue, OwnerContext, PhysAddr, VirtAddr, VirtualWindow } from "@ksim/core";
import { Machine } from "@ksim/machine";
import { BuddyAllocator } from "@ksim/pmm";
import { Dma, type DmaArch } from "../src/index.js";
import { PageMapArch } from "../src/testing/page-map-arch.js";
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
  readonly arch: DmaArch;
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
  const arch = new PageMapArch(machine.memory, archFrames);
  const dma = new Dma({
    arch,
    frames: dmaFrames,
    owners: options.owners,
    guardPages: options.guardPages,
    windows: options.windows,
  });
  return {
    machine,
    buddy,
    archFrames,
    dmaFrames,
    arch,
    dma,
    physicalAddress: (virt) => arch.getPhysicalAddress(0, virt),
    page: (virt) => {
      const e = arch.memory.entry(virt);
      if (e === undefined) return null;
      return {
        phys: e.phys,
        writable: e.protection.writable,
        user: e.protection.user,
        executable: e.protection.executable,
        memoryType: e.protection.memoryType ?? 6,
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
