// The README's examples, run as written (console output replaced by assertions).
import { X86_64 } from "@ksim/arch-x86_64";
import { Machine } from "@ksim/machine";
import { BuddyAllocator } from "@ksim/pmm";
import { describe, expect, it } from "vitest";
import { Dma, RangeAllocator } from "./index.js";

describe("README examples", () => {
  it("a DMA buffer the device reads, and a framebuffer the CPU clears", () => {
    const machine = new Machine({ ramSize: 64 * 1024 * 1024 });
    const frames = new BuddyAllocator(machine.firmwareMemoryMap);
    const arch = new X86_64({ memory: machine.memory, frames });
    const dma = new Dma({ arch, frames });
    const vram = new Uint8Array(4 * 1024 * 1024);
    machine.addressMap.addRegion(0xd000_0000, vram.length, { kind: "ram", name: "framebuffer", bytes: vram });

    const buffer = dma.mem_allocateDMA(8192);
    const bus = arch.getPhysicalAddress(0, buffer);
    arch.memory.write32(buffer, 0xcafe_f00d);
    expect(machine.memory.read32(bus).toString(16)).toBe("cafef00d");

    const fb = dma.mem_mapMMIOWriteCombine(0xd000_0000, vram.length);
    arch.memory.fill(fb, vram.length, 0x00);
    for (let i = 0; i < 16; i++) arch.memory.write32(fb + i * 4, 0x0000_00ff);
    expect([vram[0], vram[4]]).toEqual([255, 255]);

    expect([dma.mem_getDMAUsage(), dma.mem_getMMIOUsage()]).toEqual([8192, 4194304]);
    const free = frames.stats().freeFrames;
    dma.mem_unmapMMIO(fb, vram.length);
    dma.mem_freeDMA(buffer, 8192);
    expect(frames.stats().freeFrames).toBe(free + 2);
  });

  it("the window allocator", () => {
    const r = new RangeAllocator(0xf800_0000_0000, 64 * 2 ** 30);
    const a = r.allocate(0xf000);
    const b = r.allocate(0x2000, 0x1000, 0x1_0000);
    const c = r.allocate(0x1000);
    const d = r.allocate(0x1000, 0x4_0000);
    expect([a, b, c, d]).toEqual([0xf800_0000_0000, 0xf800_0001_0000, 0xf800_0000_f000, 0xf800_0004_0000]);
    r.free(b, 0x2000);
    expect([r.usedBytes, r.freeExtentCount]).toEqual([69632, 2]);
    expect(r.allocate(2 ** 40)).toBe(-1);
  });
});
