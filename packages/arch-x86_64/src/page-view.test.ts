import { type DirectViewSlot, GeneralProtectionFault, InvalidArgumentError, PageFault } from "@ksim/core";
import { Machine } from "@ksim/machine";
import { BuddyAllocator } from "@ksim/pmm";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { PTE_A, PTE_D } from "./pte.js";
import { X86_64 } from "./x86-64.js";

// VirtualMemory.pageView: one translation, then several accesses to the page through a host view. On the board
// (@ksim/machine): low RAM in its linear view, device RAM with a view of its own, registers with none.

const RW = { writable: true, user: false, executable: false } as const;
const RO = { writable: false, user: false, executable: false } as const;
const FB = 0xc000_0000;
const REGS = 0xc010_0000;

function board() {
  const machine = new Machine({ ramSize: 64 * 2 ** 20 });
  const fbBytes = new Uint8Array(0x2000);
  machine.addressMap.addRegion(FB, fbBytes.length, { kind: "ram", name: "fb", bytes: fbBytes });
  machine.addressMap.addRegion(REGS, 0x1000, {
    kind: "registers",
    name: "regs",
    handler: { read: () => 0x1234_5678, write: () => {} },
  });
  const frames = new BuddyAllocator(machine.firmwareMemoryMap);
  const arch = new X86_64({ memory: machine.memory, frames });
  const frame = (): number => {
    const f = frames.allocate({ count: 1 });
    if (!f.ok) throw new Error(f.message);
    return f.address;
  };
  return { memory: machine.memory, arch, vm: arch.memory, base: arch.layout.heap.base, fbBytes, frame };
}

describe("VirtualMemory.pageView", () => {
  test("a read view shows the bytes scalar reads see, at every offset, in RAM and device RAM", () => {
    const { memory, vm, base, frame } = board();
    const phys = [frame(), FB + 0x1000];
    phys.forEach((p, i) => {
      expect(vm.map(base + i * 0x1000, p, 0x1000, RW).ok).toBe(true);
      for (let k = 0; k < 0x1000; k += 4) memory.write32(p + k, (k * 0x9e37_79b9 + i) >>> 0);
    });
    const slot: DirectViewSlot = { offset: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 0xffc }), (page, at) => {
        const virt = base + page * 0x1000 + at;
        const view = vm.pageView(virt, false, slot);
        expect(view).not.toBeNull();
        expect(view!.getUint32(slot.offset, true)).toBe(vm.read32(virt));
        // The whole page is there: its first and last bytes relative to virt.
        expect(view!.getUint8(slot.offset - at)).toBe(vm.read8(virt - at));
        expect(view!.getUint8(slot.offset - at + 0xfff)).toBe(vm.read8(virt - at + 0xfff));
      }),
      { numRuns: 200 },
    );
  });

  test("writes through a write view land in physical memory, and the walk set A and D", () => {
    const { arch, memory, vm, base, frame } = board();
    const phys = frame();
    vm.map(base, phys, 0x1000, RW);
    const pte = arch.getPage(0, base, 0);
    expect(arch.tables.lo(pte) & (PTE_A | PTE_D)).toBe(0);
    const slot: DirectViewSlot = { offset: 0 };
    const view = vm.pageView(base + 0x10, true, slot)!;
    expect(arch.tables.lo(pte) & (PTE_A | PTE_D)).toBe(PTE_A | PTE_D);
    view.setUint32(slot.offset, 0xdead_beef, true);
    view.setUint32(slot.offset + 12, 0xc001_c0de, true);
    expect(memory.read32(phys + 0x10)).toBe(0xdead_beef);
    expect(vm.read32(base + 0x1c)).toBe(0xc001_c0de);
    // The second call hits tier 1 and gives the same place.
    const again = { offset: 0 };
    expect(vm.pageView(base + 0x10, true, again)).toBe(view);
    expect(again.offset).toBe(slot.offset);
  });

  test("faults like an access: not present, read-only for a write, supervisor page from user mode", () => {
    const { arch, vm, base, frame } = board();
    const slot = { offset: 0 };
    expect(() => vm.pageView(base, false, slot)).toThrow(PageFault);
    vm.map(base, frame(), 0x1000, RO);
    expect(vm.pageView(base, false, slot)).not.toBeNull();
    let fault: unknown;
    try {
      vm.pageView(base, true, slot);
    } catch (error) {
      fault = error;
    }
    expect(fault).toBeInstanceOf(PageFault);
    expect((fault as PageFault).errorCode & 0x3).toBe(0x3); // present, write
    expect(() => arch.userMemory.pageView(base, false, slot)).toThrow(PageFault);
  });

  test("registers have no view (null): their accesses must go through the scalar calls", () => {
    const { vm, base } = board();
    vm.map(base, REGS, 0x1000, RW);
    expect(vm.pageView(base + 8, false, { offset: 0 })).toBeNull();
    expect(vm.read32(base + 8)).toBe(0x1234_5678);
  });

  test("device RAM gets its own view", () => {
    const { vm, base, fbBytes } = board();
    vm.map(base, FB, 0x2000, RW);
    const slot = { offset: 0 };
    const view = vm.pageView(base + 0x1004, true, slot)!;
    view.setUint8(slot.offset, 0x5a);
    expect(fbBytes[0x1004]).toBe(0x5a);
  });

  test("a call after unmap faults: a view reflects the mapping at the time of the call", () => {
    const { vm, base, frame } = board();
    vm.map(base, frame(), 0x1000, RW);
    const slot = { offset: 0 };
    expect(vm.pageView(base, true, slot)).not.toBeNull();
    vm.unmap(base, 0x1000);
    expect(() => vm.pageView(base, true, slot)).toThrow(PageFault);
    expect(() => vm.pageView(base, false, slot)).toThrow(PageFault);
  });

  test("malformed addresses and flags throw typed errors", () => {
    const { vm, base, frame } = board();
    vm.map(base, frame(), 0x1000, RW);
    const slot = { offset: 0 };
    vm.pageView(base, false, slot);
    vm.pageView(base, false, slot);
    expect(() => vm.pageView(base + 0.5, false, slot)).toThrow(InvalidArgumentError);
    expect(() => vm.pageView(-1, false, slot)).toThrow(InvalidArgumentError);
    expect(() => vm.pageView(Number.NaN, true, slot)).toThrow(InvalidArgumentError);
    expect(() => vm.pageView(2 ** 48, false, slot)).toThrow(GeneralProtectionFault);
    expect(() => vm.pageView(base + 0x1000, "yes" as unknown as boolean, slot)).toThrow(InvalidArgumentError);
  });
});
