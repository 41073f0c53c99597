import { X86_64 } from "@ksim/arch-x86_64";
import { type Arch, bindMemoryApi, type FrameAllocator, type MemoryApi } from "@ksim/core";
import { Dma } from "@ksim/dma";
import { Heap } from "@ksim/heap";
import { Machine } from "@ksim/machine";
import { BuddyAllocator } from "@ksim/pmm";

/** What the demo boots: the board and the kernel's memory subsystems, wired together. */
export interface BootedSystem {
  readonly machine: Machine;
  readonly pmm: BuddyAllocator;
  readonly arch: X86_64;
  readonly heap: Heap;
  readonly dma: Dma;
  /** The seed's mem_* calls under their C names. */
  readonly mem: MemoryApi;
}

/** Boots a machine with `ramSize` bytes of RAM: firmware map -> frame allocator -> paging -> heap -> DMA/MMIO. */
export function boot(ramSize: number): BootedSystem {
  const machine = new Machine({ ramSize });
  const pmm = new BuddyAllocator(machine.firmwareMemoryMap);
  const frames: FrameAllocator = pmm;
  const arch = new X86_64({ memory: machine.memory, frames });
  const kernelArch: Arch = arch;
  const heap = new Heap({ memory: arch.memory, frames, window: arch.layout.heap });
  const dma = new Dma({ arch: kernelArch, frames });
  return { machine, pmm, arch, heap, dma, mem: bindMemoryApi(kernelArch) };
}
