import { type DirectViewSlot, GeneralProtectionFault, InvalidArgumentError, PageFault } from "@ksim/core";
import { describe, expect, test } from "vitest";
import { CR4_SMAP } from "./control.js";
import { assertAccessesAgreeWithMemory } from "./testing/access-property.js";
import { FlatMemory } from "./testing/flat-memory.js";
import { FreeListFrames } from "./testing/free-list-frames.js";
import { L1_KERNEL_READ, L1_KERNEL_WRITE, L1_USER_READ } from "./tlb.js";
import { X86_64 } from "./x86-64.js";

// Tier 1 of the L1 TLB: pages whose direct view is the memory's `linearView` are cached as a tag and an offset,
// and read and written through the one view. FlatMemory offers a linear view, so these tests check tier 1 itself:
// it agrees with the bus, it is filled and dropped with its slot, and it never serves what the checked path must.

const MiB = 1024 * 1024;
const RW = { writable: true, user: false, executable: false } as const;
const RO = { writable: false, user: false, executable: false } as const;

/** FlatMemory that records the page and `forWrite` of every directView call. */
class RecordingFlat extends FlatMemory {
  readonly asked: string[] = [];
  override directView(address: number, forWrite: boolean, slot: DirectViewSlot): DataView | null {
    this.asked.push(`${(address - (address % 0x1000)).toString(16)}:${forWrite ? "write" : "read"}`);
    return super.directView(address, forWrite, slot);
  }
}

function rig() {
  const memory = new RecordingFlat(32 * MiB);
  const frames = new FreeListFrames(16 * MiB, 16 * MiB);
  const arch = new X86_64({ memory, frames });
  const base = arch.layout.heap.base;
  const frame = (): number => {
    const f = frames.allocFrame();
    if (f < 0) throw new Error("out of frames");
    return f;
  };
  return { memory, frames, arch, vm: arch.memory, tlb: arch.mmu.tlb, base, frame };
}

/** The tier-1 tag of `virt`'s page in array `index`, or NaN. */
function tier1(tlb: X86_64["mmu"]["tlb"], index: number, virt: number): number {
  return tlb.l1Linear[index]![Math.floor(virt / 0x1000) & tlb.l1Mask]!;
}

describe("tier 1 of the L1 TLB (the memory's linear view)", () => {
  test("random reads and writes of every width agree with physical memory at the translated address", () => {
    const { memory, vm, base, frame } = rig();
    const pages = 6;
    for (let i = 0; i < pages; i++) expect(vm.map(base + i * 0x1000, frame(), 0x1000, RW).ok).toBe(true);
    assertAccessesAgreeWithMemory(vm, memory, base, pages, 80);
  });

  test("a page enters tier 1 on its second access, and invlpg drops it", () => {
    const { arch, tlb, vm, base, frame } = rig();
    vm.map(base, frame(), 0x1000, RW);
    vm.read32(base); // miss: walk and fill the slot, view pending
    expect(tier1(tlb, L1_KERNEL_READ, base)).toBeNaN();
    vm.read32(base); // the slot is found: its view is the linear one
    expect(tier1(tlb, L1_KERNEL_READ, base)).toBe(base);
    arch.mmu.invalidate(base);
    expect(tier1(tlb, L1_KERNEL_READ, base)).toBeNaN();
  });

  test("write entries ask for their view with forWrite, read entries without", () => {
    const { memory, vm, base, frame } = rig();
    const a = frame();
    const b = frame();
    vm.map(base, a, 0x1000, RW);
    vm.map(base + 0x1000, b, 0x1000, RW);
    const data = (asked: string[]) =>
      asked.filter((x) => x.startsWith(`${a.toString(16)}:`) || x.startsWith(`${b.toString(16)}:`));
    memory.asked.length = 0;
    vm.read32(base);
    vm.read32(base);
    expect(data(memory.asked)).toEqual([`${a.toString(16)}:read`]);
    vm.write32(base + 0x1000, 1);
    vm.write32(base + 0x1000, 2);
    expect(data(memory.asked)).toEqual([`${a.toString(16)}:read`, `${b.toString(16)}:write`]);
  });

  test("unmap and protect take effect at once: tier 1 never serves a page the tables no longer allow", () => {
    const { tlb, vm, base, frame } = rig();
    vm.map(base, frame(), 0x2000, RW);
    for (let k = 0; k < 2; k++) {
      vm.write32(base, 5);
      vm.read32(base + 0x1000);
    }
    expect(tier1(tlb, L1_KERNEL_WRITE, base)).toBe(base);
    vm.protect(base, 0x1000, RO);
    expect(() => vm.write32(base, 6)).toThrow(PageFault);
    expect(vm.read32(base)).toBe(5);
    vm.unmap(base + 0x1000, 0x1000);
    expect(() => vm.read32(base + 0x1000)).toThrow(PageFault);
  });

  test("a CR3 switch empties tier 1: the other address space's mapping is used", () => {
    const { arch, memory, vm, base, frame } = rig();
    const a = frame();
    memory.write32(a, 0x1111);
    vm.map(base, a, 0x1000, RW);
    vm.read32(base);
    expect(vm.read32(base)).toBe(0x1111);
    expect(arch.mmu.tlb.l1Linear[L1_KERNEL_READ]!.some((t) => !Number.isNaN(t))).toBe(true);
    arch.mmu.writeCr3(arch.mmu.cr3);
    expect(arch.mmu.tlb.l1Linear[L1_KERNEL_READ]!.every((t) => Number.isNaN(t))).toBe(true);
    expect(vm.read32(base)).toBe(0x1111);
  });

  test("bad addresses never take tier 1, even when their page is cached there", () => {
    const { memory, tlb, vm, base, frame } = rig();
    const phys = frame();
    vm.map(base, phys, 0x1000, RW);
    vm.write32(base, 0x0102_0304);
    vm.write32(base, 0x0102_0304);
    vm.read32(base);
    vm.read32(base);
    expect(tier1(tlb, L1_KERNEL_READ, base)).toBe(base);
    expect(tier1(tlb, L1_KERNEL_WRITE, base)).toBe(base);
    expect(() => vm.read32(base + 0.5)).toThrow(InvalidArgumentError);
    expect(() => vm.read8(Number.NaN)).toThrow(InvalidArgumentError);
    expect(() => vm.read16(-0x1000)).toThrow(InvalidArgumentError);
    expect(() => vm.read32(base + 2 ** 48)).toThrow(GeneralProtectionFault);
    expect(() => vm.read32(base + 2 ** 53)).toThrow(InvalidArgumentError);
    expect(() => vm.read32(2 ** 48 - 2)).toThrow(GeneralProtectionFault);
    // (Values the memory would refuse also skip tier 1; FlatMemory does not validate them, the board does:
    // l1-views.test.ts checks that on @ksim/machine.)
    expect(() => vm.write8(base + 0.25, 1)).toThrow(InvalidArgumentError);
    expect(memory.read32(phys)).toBe(0x0102_0304);
  });

  test("accesses that cross from a tier-1 page into the next page are split and checked on both pages", () => {
    const { memory, vm, base, frame } = rig();
    const a = frame();
    const b = frame();
    vm.map(base, a, 0x1000, RW);
    vm.map(base + 0x1000, b, 0x1000, RW);
    vm.write32(base + 0xffc, 0);
    vm.write32(base + 0xffc, 0); // the page is in tier 1 now
    vm.write32(base + 0xffe, 0xaabb_ccdd);
    expect(memory.read16(a + 0xffe)).toBe(0xccdd);
    expect(memory.read16(b)).toBe(0xaabb);
    expect(vm.read32(base + 0xffe)).toBe(0xaabb_ccdd);
    vm.unmap(base + 0x1000, 0x1000);
    expect(() => vm.write32(base + 0xffe, 1)).toThrow(PageFault);
    expect(memory.read16(a + 0xffe)).toBe(0xccdd); // nothing written by the faulting access
  });

  test("user and kernel accesses have their own tier-1 entries: a kernel-only page never serves user mode", () => {
    const { arch, tlb, base, frame } = rig();
    const kernel = arch.memory;
    const user = arch.userMemory;
    const userPage = base + 0x1000;
    kernel.map(base, frame(), 0x1000, RW);
    kernel.map(userPage, frame(), 0x1000, { writable: true, user: true, executable: false });
    kernel.write32(base, 0x1234);
    for (let k = 0; k < 2; k++) kernel.read32(base);
    expect(tier1(tlb, L1_KERNEL_READ, base)).toBe(base);
    expect(() => user.read32(base)).toThrow(PageFault); // U/S = 0: the kernel's cached entry is not the user's
    for (let k = 0; k < 2; k++) user.write32(userPage, 7);
    for (let k = 0; k < 2; k++) expect(user.read32(userPage)).toBe(7);
    expect(tier1(tlb, L1_USER_READ, userPage)).toBe(userPage);
    expect(kernel.read32(userPage)).toBe(7); // SMAP off: the kernel may read user pages
  });

  test("turning SMAP on empties tier 1: the kernel's next access to a user page faults", () => {
    const { arch, base, frame } = rig();
    const kernel = arch.memory;
    kernel.map(base, frame(), 0x1000, { writable: true, user: true, executable: false });
    for (let k = 0; k < 2; k++) kernel.write32(base, 5);
    for (let k = 0; k < 2; k++) expect(kernel.read32(base)).toBe(5);
    arch.mmu.writeCr4(arch.mmu.cr4 | CR4_SMAP);
    expect(() => kernel.read32(base)).toThrow(PageFault);
    expect(() => kernel.write32(base, 6)).toThrow(PageFault);
  });
});
