import { Machine } from "@ksim/machine";
import { BuddyAllocator } from "@ksim/pmm";
import { describeArchConformance } from "./conformance.js";
import { bootTestArch } from "./testing/harness.js";
import { X86_64 } from "./x86-64.js";

describeArchConformance("x86_64 on @ksim/machine with @ksim/pmm's buddy allocator", () => {
  const machine = new Machine({ ramSize: 32 * 1024 * 1024 });
  const frames = new BuddyAllocator(machine.firmwareMemoryMap);
  const arch = new X86_64({ memory: machine.memory, frames });
  return { arch, frames, physical: machine.memory };
});

describeArchConformance("x86_64 over flat RAM with a free-list allocator", () => {
  const { arch, frames, memory } = bootTestArch();
  return { arch, frames, physical: memory };
});
