import { InvalidArgumentError, PageFault, type PhysicalMemory } from "@ksim/core";
import { Machine } from "@ksim/machine";
import { BuddyAllocator } from "@ksim/pmm";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { PTE_A, PTE_D } from "./pte.js";
import { assertAccessesAgreeWithMemory } from "./testing/access-property.js";
import { L1_STRIDE } from "./tlb.js";
import { X86_64 } from "./x86-64.js";

// The L1 TLB caches each page's direct host view (PhysicalMemory.directView): these tests run on the real board
// (@ksim/machine: sparse chunked RAM, device RAM, register regions) to check that the fast path reads and writes
// exactly what the bus would, and that a topology change (BAR moved, region removed, RAM chunk given back) never
// leaves a stale view in use.

const RW = { writable: true, user: false, executable: false } as const;
const FB = 0xc000_0000;
const REGS = 0xc010_0000;

function board() {
  const machine = new Machine({ ramSize: 64 * 2 ** 20 });
  const fbBytes = new Uint8Array(0x4000);
  const fb = machine.addressMap.addRegion(FB, fbBytes.length, { kind: "ram", name: "fb", bytes: fbBytes });
  const regLog: string[] = [];
  const regs = machine.addressMap.addRegion(REGS, 0x1000, {
    kind: "registers",
    name: "regs",
    handler: {
      read: (offset, size) => {
        regLog.push(`r${size}@${offset}`);
        return 0x1234_5678 >>> (8 * (4 - size));
      },
      write: (offset, size, value) => {
        regLog.push(`w${size}@${offset}=${value}`);
      },
    },
  });
  const frames = new BuddyAllocator(machine.firmwareMemoryMap);
  const arch = new X86_64({ memory: machine.memory, frames });
  const base = arch.layout.heap.base;
  const frame = (): number => {
    const f = frames.allocate({ count: 1 });
    if (!f.ok) throw new Error(f.message);
    return f.address;
  };
  return { machine, memory: machine.memory, arch, vm: arch.memory, base, fb, fbBytes, regs, regLog, frame };
}

/**
 * True when the kernel-read L1 slot of `virt` holds a direct view. A miss fills the slot with the view pending; the
 * next access that finds the slot looks the view up.
 */
function hasReadView(arch: X86_64, virt: number): boolean {
  const tlb = arch.mmu.tlb;
  const vpn = Math.floor(virt / 0x1000);
  const j = vpn & tlb.l1Mask;
  // In the slot (a view of its own) or in tier 1 (an offset into the memory's linear view).
  return tlb.l1[0]![j * L1_STRIDE + 2] === vpn || tlb.l1Linear[0]![j] === vpn * 0x1000;
}

describe("direct views in the L1 TLB", () => {
  test("random accesses through VirtualMemory agree with the bus at the translated address, on every backing", () => {
    const { memory, vm, base, frame } = board();
    // Pages: written RAM, RAM (written or not, by chance of placement), two device-RAM pages, more RAM.
    const targets = [frame(), frame(), FB, FB + 0x2000, frame(), frame()];
    memory.write8(targets[0]!, 1); // allocated chunk: a view; targets[1] may share it or not
    for (const [i, phys] of targets.entries()) expect(vm.map(base + i * 0x1000, phys, 0x1000, RW).ok).toBe(true);
    assertAccessesAgreeWithMemory(vm, memory, base, targets.length, 60);
  });

  test("a write through a cached view validates the value like the bus, and a bad one changes nothing", () => {
    const { memory, vm, base, frame } = board();
    const phys = frame();
    vm.map(base, phys, 0x1000, RW);
    vm.write32(base, 0x1111_1111); // the write entry and its view are cached now
    for (const bad of [2 ** 32, -(2 ** 31) - 1, 1.5, Number.NaN]) {
      expect(() => vm.write32(base, bad)).toThrow(InvalidArgumentError);
    }
    expect(() => vm.write16(base, 0x1_0000)).toThrow(InvalidArgumentError);
    expect(() => vm.write8(base, 256)).toThrow(InvalidArgumentError);
    expect(memory.read32(phys)).toBe(0x1111_1111);
    vm.write32(base, -1);
    vm.write8(base + 4, -2);
    expect(memory.read32(phys)).toBe(0xffff_ffff);
    expect(memory.read8(phys + 4)).toBe(0xfe);
  });

  test("the first write to a clean page walks and sets D even though reads of it hit a cached view", () => {
    const { arch, memory, vm, base, frame } = board();
    const phys = frame();
    memory.write32(phys, 7);
    vm.map(base, phys, 0x1000, RW);
    const pte = arch.getPage(0, base, 0);
    expect(vm.read32(base)).toBe(7); // miss: walk, fill
    expect(hasReadView(arch, base)).toBe(false);
    expect(vm.read32(base)).toBe(7); // L1 hit, the view is looked up
    expect(hasReadView(arch, base)).toBe(true);
    expect(arch.tables.lo(pte) & (PTE_A | PTE_D)).toBe(PTE_A);
    vm.write32(base, 8);
    expect(arch.tables.lo(pte) & (PTE_A | PTE_D)).toBe(PTE_A | PTE_D);
    expect(memory.read32(phys)).toBe(8);
  });

  test("register pages get no view: every access reaches the handler", () => {
    const { arch, vm, base, regLog } = board();
    vm.map(base, REGS, 0x1000, RW);
    vm.read32(base + 8);
    vm.read32(base + 8);
    vm.write32(base + 12, 5);
    vm.write32(base + 12, 6);
    expect(hasReadView(arch, base)).toBe(false);
    expect(regLog).toEqual(["r4@8", "r4@8", "w4@12=5", "w4@12=6"]);
  });

  test("moving a device region (BAR reprogrammed) drops cached views: the old address reads as a hole", () => {
    const { arch, vm, base, fb, fbBytes } = board();
    vm.map(base, FB, 0x1000, RW);
    vm.write32(base, 0xcafe_f00d);
    expect(fbBytes[0]).toBe(0x0d);
    expect(vm.read32(base)).toBe(0xcafe_f00d);
    expect(vm.read32(base)).toBe(0xcafe_f00d);
    expect(hasReadView(arch, base)).toBe(true);
    fb.moveTo(0xd000_0000);
    expect(vm.read32(base)).toBe(0xffff_ffff); // the mapping still points at FB, now unbacked
    vm.write32(base, 1); // dropped by the bus, not written into the framebuffer through a stale view
    expect(fbBytes[0]).toBe(0x0d);
  });

  test("removing a device region drops cached views", () => {
    const { vm, base, fb, fbBytes } = board();
    vm.map(base, FB + 0x1000, 0x1000, RW);
    vm.write8(base, 0x42);
    expect(vm.read8(base)).toBe(0x42);
    fb.remove();
    expect(vm.read8(base)).toBe(0xff);
    vm.write8(base, 0x43);
    expect(fbBytes[0x1000]).toBe(0x42);
  });

  test("a RAM chunk given back (zeroed whole) drops cached views: later writes land in the new memory", () => {
    const { arch, memory, vm, base, frame } = board();
    const phys = frame();
    vm.map(base, phys, 0x1000, RW);
    vm.write32(base + 16, 0x1234);
    expect(vm.read32(base + 16)).toBe(0x1234);
    expect(vm.read32(base + 16)).toBe(0x1234);
    expect(hasReadView(arch, base)).toBe(true);
    const chunk = phys - (phys % 0x1_0000);
    memory.fill(chunk, 0x1_0000, 0); // gives the chunk's memory back
    expect(vm.read32(base + 16)).toBe(0);
    vm.write32(base + 16, 0x5678);
    expect(memory.read32(phys + 16)).toBe(0x5678);
    expect(vm.read32(base + 16)).toBe(0x5678);
  });

  // On the board the page sits in tier 1 (the linear view) after its second access: this covers that tier too.
  test("a PTE edited in RAM without invlpg keeps the stale translation (and view) until invlpg, as on hardware", () => {
    const { arch, memory, vm, base, frame } = board();
    const a = frame();
    const b = frame();
    memory.write32(a, 0xaaaa);
    memory.write32(b, 0xbbbb);
    vm.map(base, a, 0x1000, RW);
    expect(vm.read32(base)).toBe(0xaaaa);
    expect(vm.read32(base)).toBe(0xaaaa);
    expect(hasReadView(arch, base)).toBe(true);
    const pte = arch.getPage(0, base, 0);
    arch.tables.write(pte, (arch.tables.lo(pte) & 0xfff) | b, arch.tables.hi(pte));
    expect(vm.read32(base)).toBe(0xaaaa);
    arch.mmu.invalidate(base);
    expect(vm.read32(base)).toBe(0xbbbb);
  });

  test("a page-table chunk given back drops the PDE cache's view of it: the next miss reads the zeroed PTE", () => {
    const { arch, memory, vm, base, frame } = board();
    vm.map(base, frame(), 0x1000, RW);
    vm.map(base + 0x1000, frame(), 0x1000, RW);
    vm.read32(base); // walks, and caches the page table of this 2 MiB region with its direct view
    const pte = arch.getPage(0, base, 0);
    memory.fill(pte - (pte % 0x1_0000), 0x1_0000, 0); // the page table's chunk is zeroed whole: given back
    // base + 0x1000 was never translated: its miss must read the (now zero) PTE, not the orphaned old memory.
    expect(() => vm.read32(base + 0x1000)).toThrow(PageFault);
  });

  test("a physical memory without direct views works through it: same bytes, no views cached, no PDE cache", () => {
    const machine = new Machine({ ramSize: 64 * 2 ** 20 });
    const bus = machine.memory;
    // The same memory with the optional capability hidden, as a third-party PhysicalMemory would be.
    const plain = new Proxy(bus, {
      get: (target, key) => {
        if (key === "directView" || key === "onTopologyChange" || key === "linearView") return undefined;
        const value = Reflect.get(target, key) as unknown;
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as PhysicalMemory;
    const frames = new BuddyAllocator(machine.firmwareMemoryMap);
    const arch = new X86_64({ memory: plain, frames });
    const vm = arch.memory;
    const base = arch.layout.heap.base;
    const f = frames.allocate({ count: 4 });
    if (!f.ok) throw new Error(f.message);
    expect(vm.map(base, f.address, 0x4000, RW).ok).toBe(true);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x3ffc }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (offset, value) => {
        vm.write32(base + offset, value);
        expect(vm.read32(base + offset)).toBe(value);
        expect(vm.read32(base + offset)).toBe(value);
        expect(bus.read32(vm.translate(base + offset))).toBe(value);
      }),
      { numRuns: 100 },
    );
    const tlb = arch.mmu.tlb;
    expect(tlb.l1.every((a) => a.every((v, i) => i % 4 !== 2 || Number.isNaN(v)))).toBe(true);
    expect(tlb.l1Linear.every((tags) => tags.every((v) => Number.isNaN(v)))).toBe(true);
    expect(tlb.pde.every((v) => Number.isNaN(v))).toBe(true);
  });
});
