import type { DirectViewSlot, PhysicalMemory } from "@ksim/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Machine } from "./machine.js";

// Direct views (PhysicalMemory.directView / onTopologyChange) over a machine with every kind of backing:
//   low RAM [0, 16 MiB), device RAM "fb" [16 MiB, +12 KiB + 0x800) (its last page is partial), registers "regs"
//   after it, a hole, device RAM "rom" [4 GiB - 4 KiB, 4 GiB), high RAM [4 GiB, 4 GiB + 256 KiB).
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const LOW_END = 16 * MiB;
const FB_BASE = LOW_END;
const FB_SIZE = 0x3800;
const REGS_BASE = FB_BASE + 0x4000;
const ROM_BASE = 4 * GiB - 0x1000;
const HIGH_END = 4 * GiB + 0x4_0000;

function build(lowRam: "linear" | "chunked" = "linear") {
  const machine = new Machine({ ramSize: LOW_END + 0x4_0000, lowMemoryTop: LOW_END, lowRam });
  const fb = new Uint8Array(FB_SIZE);
  const rom = new Uint8Array(0x1000);
  const fbRegion = machine.addressMap.addRegion(FB_BASE, FB_SIZE, { kind: "ram", name: "fb", bytes: fb });
  machine.addressMap.addRegion(REGS_BASE, 0x100, {
    kind: "registers",
    name: "regs",
    handler: { read: () => 0x12, write: () => {} },
  });
  machine.addressMap.addRegion(ROM_BASE, 0x1000, { kind: "ram", name: "rom", bytes: rom });
  return { machine, memory: machine.memory, fb, rom, fbRegion };
}

function view(memory: PhysicalMemory, address: number, forWrite: boolean, slot: DirectViewSlot) {
  return memory.directView!(address, forWrite, slot);
}

/** Addresses in every kind of backing, near the edges. */
const anyAddress = fc.oneof(
  fc.integer({ min: 0, max: LOW_END - 1 }),
  fc.integer({ min: FB_BASE, max: REGS_BASE + 0x1000 }),
  fc.integer({ min: ROM_BASE - 0x1000, max: HIGH_END + 0x1000 }),
);

describe.each(["linear", "chunked"] as const)("PhysicalBus.directView, low RAM %s", (lowRam) => {
  it("bytes read through a view equal read8 at every offset of the page, in RAM and device RAM", () => {
    const { memory } = build(lowRam);
    const slot = { offset: -1 };
    fc.assert(
      fc.property(
        fc.array(fc.tuple(anyAddress, fc.integer({ min: 1, max: 255 })), { maxLength: 40 }),
        anyAddress,
        (writes, probe) => {
          for (const [address, byte] of writes) memory.write8(address, byte);
          const v = view(memory, probe, false, slot);
          if (v === null) return;
          const page = probe - (probe % 0x1000);
          const through = Array.from({ length: 0x1000 }, (_, i) => v.getUint8(slot.offset + i));
          const bus = Array.from({ length: 0x1000 }, (_, i) => memory.read8(page + i));
          expect(through).toEqual(bus);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("writes through a view land in RAM and device memory as write8s would", () => {
    const { memory, fb, rom } = build(lowRam);
    const slot = { offset: -1 };
    fc.assert(
      fc.property(anyAddress, fc.integer({ min: 0, max: 0xffff_ffff }), (address, value) => {
        const at = Math.min(address, address - (address % 0x1000) + 0x1000 - 4); // 4 bytes inside the page
        const v = view(memory, at, true, slot);
        if (v === null) return;
        v.setUint32(slot.offset + (at % 0x1000), value, true);
        expect(memory.read32(at)).toBe(value);
        if (at >= FB_BASE && at < FB_BASE + FB_SIZE)
          expect(new DataView(fb.buffer).getUint32(at - FB_BASE, true)).toBe(value);
        if (at >= ROM_BASE && at < 4 * GiB) expect(new DataView(rom.buffer).getUint32(at - ROM_BASE, true)).toBe(value);
      }),
      { numRuns: 200 },
    );
  });

  it("is null for registers, holes and a device page cut by the region's end", () => {
    const { machine, memory } = build(lowRam);
    const slot = { offset: 0 };
    expect(view(memory, REGS_BASE + 4, false, slot)).toBeNull();
    expect(view(memory, REGS_BASE + 4, true, slot)).toBeNull();
    expect(view(memory, REGS_BASE + 0x2000, true, slot)).toBeNull(); // hole
    expect(view(memory, HIGH_END + 0x10, true, slot)).toBeNull(); // hole above high RAM
    expect(view(memory, FB_BASE + 0x3000, true, slot)).toBeNull(); // only 0x800 bytes of that page are fb
    expect(view(memory, FB_BASE + 0x2fff, true, slot) === null).toBe(false);
    expect(machine.stats.ramChunksAllocated).toBe(0);
  });

  it("a read of never-written high RAM gets no view and allocates nothing; forWrite allocates the chunk", () => {
    const { machine, memory } = build(lowRam);
    const slot = { offset: 0 };
    expect(view(memory, 4 * GiB + 0x2_1234, false, slot)).toBeNull();
    expect(machine.stats.ramChunksAllocated).toBe(0);
    const w = view(memory, 4 * GiB + 0x2_1234, true, slot);
    expect(w === null).toBe(false);
    expect(slot.offset).toBe(0x1000); // chunk 2 of high RAM starts at 4 GiB + 0x2_0000
    expect(machine.stats.ramChunksAllocated).toBe(1);
    expect(view(memory, 4 * GiB + 0x2_1fff, false, slot) === w).toBe(true);
  });

  it("forWrite counts a never-written low-RAM chunk once; the page's offset is its place in the view", () => {
    const { machine, memory } = build(lowRam);
    const slot = { offset: -1 };
    const w = view(memory, 0x5_1234, true, slot);
    expect(w === null).toBe(false);
    // One buffer: the page's physical address; chunks: its offset in the 64 KiB chunk.
    expect(slot.offset).toBe(lowRam === "linear" ? 0x5_1000 : 0x1000);
    expect(machine.stats.ramChunksAllocated).toBe(1);
    expect(view(memory, 0x5_ffff, true, slot) === w).toBe(true);
    expect(machine.stats.ramChunksAllocated).toBe(1);
    w!.setUint8(slot.offset + 0xfff, 0x42);
    expect(memory.read8(0x5_ffff)).toBe(0x42);
  });

  it("gives the page's offset inside a large chunk far above 4 GiB (1 TiB machine, 1 MiB chunks)", () => {
    const machine = new Machine({ ramSize: 2 ** 40 });
    const memory = machine.memory;
    const address = 2 ** 40 - 0x12_3456; // high RAM, offset above 2^32
    memory.write32(address, 0xdead_beef);
    const slot = { offset: -1 };
    const v = view(memory, address, false, slot);
    expect(v).not.toBeNull();
    expect(slot.offset % 0x1000).toBe(0);
    expect(v!.getUint32(slot.offset + (address % 0x1000), true)).toBe(0xdead_beef);
  });
});

describe("PhysicalBus.onTopologyChange", () => {
  it("fires when a region is added, moved or removed, and when a RAM chunk is given back", () => {
    const { machine, memory, fbRegion } = build("chunked");
    let calls = 0;
    const off = memory.onTopologyChange!(() => calls++);
    const regs = machine.addressMap.addRegion(0xa000_0000, 0x1000, {
      kind: "registers",
      name: "r2",
      handler: { read: () => 0, write: () => {} },
    });
    expect(calls).toBe(1);
    fbRegion.moveTo(0xb000_0000);
    expect(calls).toBe(2);
    regs.remove();
    expect(calls).toBe(3);
    memory.write8(0x3_0000, 1);
    memory.fill(0x3_0000, 0x100, 0); // part of a chunk: the chunk keeps its memory
    expect(calls).toBe(3);
    memory.write8(0x3_0000, 1);
    memory.fill(0x3_0000, 0x1_0000, 0); // the whole chunk: given back
    expect(calls).toBe(4);
    memory.fill(4 * GiB, 0x1_0000, 0); // a never-written chunk: nothing to give back
    expect(calls).toBe(4);
    memory.write8(4 * GiB, 7);
    memory.fill(4 * GiB, 0x1_0000, 0);
    expect(calls).toBe(5);
    off();
    fbRegion.moveTo(FB_BASE);
    expect(calls).toBe(5);
  });

  it("one-buffer low RAM fires only when a chunk handed out for writing is zeroed whole", () => {
    const { machine, memory } = build("linear");
    let calls = 0;
    memory.onTopologyChange!(() => calls++);
    memory.write8(0x3_0000, 1);
    memory.fill(0x3_0000, 0x1_0000, 0); // written through the bus only: counted back, no view to drop
    expect(machine.stats.ramChunksAllocated).toBe(0);
    expect(calls).toBe(0);
    const slot = { offset: 0 };
    const w = view(memory, 0x4_2000, true, slot)!;
    w.setUint32(slot.offset + 8, 0xdead_beef, true);
    memory.fill(0x4_0000, 0x8000, 0); // half the chunk: it stays counted
    expect(calls).toBe(0);
    expect(machine.stats.ramChunksAllocated).toBe(1);
    memory.fill(0x4_0000, 0x1_0000, 0); // whole: holders of writable views must ask again
    expect(calls).toBe(1);
    expect(machine.stats.ramChunksAllocated).toBe(0);
    expect(memory.read32(0x4_2008)).toBe(0);
    // The view itself stays valid: it still shows the RAM.
    memory.write32(0x4_2008, 0x1234_5678);
    expect(w.getUint32(slot.offset + 8, true)).toBe(0x1234_5678);
  });

  it("after a move, a fresh view shows the region at its new place and the old address is a hole", () => {
    const { memory, fb, fbRegion } = build();
    fb[0x1234] = 0x77;
    fbRegion.moveTo(0xb000_0000);
    const slot = { offset: 0 };
    expect(view(memory, FB_BASE + 0x1000, false, slot)).toBeNull();
    const v = view(memory, 0xb000_1000, false, slot);
    expect(v!.getUint8(slot.offset + 0x234)).toBe(0x77);
  });

  it("rejects a listener that is not a function", () => {
    const { memory } = build();
    expect(() => memory.onTopologyChange!(42 as unknown as () => void)).toThrow(/listener/);
  });
});
