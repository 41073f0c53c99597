import { GeneralProtectionFault, InvalidArgumentError, MEM_CREATE, MEM_DEFAULT } from "@ksim/core";
import { describe, expect, test } from "vitest";
import { bootTestArch, snapshot } from "./testing/harness.js";

// Every public entry point, fed malformed numbers: each throws a typed error naming the value, and the page tables,
// the allocator and the MMU's control state are exactly as before.

const BAD = [Number.NaN, -1, 0.5, Number.POSITIVE_INFINITY, 2 ** 53, "0x1000" as unknown as number];
const RW = { writable: true, user: false, executable: false };

describe("malformed arguments change nothing", () => {
  test("every Arch entry point", () => {
    const { arch, frames, memory } = bootTestArch();
    const page = arch.getPage(0, 0x40_0000, MEM_CREATE);
    arch.allocatePage(page, MEM_DEFAULT);
    const vas = arch.createVAS();
    const before = snapshot(arch, frames, memory);
    const cr3 = arch.mmu.cr3;
    const calls: ((bad: number) => unknown)[] = [
      (b) => arch.alignPage(b),
      (b) => arch.alignPageDown(b),
      (b) => arch.formatAddress(b),
      (b) => arch.parseAddress(b),
      (b) => arch.pageIsPresent(b),
      (b) => arch.pageIsWritable(b),
      (b) => arch.pageIsUsermode(b),
      (b) => arch.pageIsCow(b),
      (b) => arch.pageIsDirty(b),
      (b) => arch.pagePresent(b, false),
      (b) => arch.pageCow(b, true),
      (b) => arch.pageFrameRaw(b),
      (b) => arch.pageFrameRaw(page, b),
      (b) => arch.getFrame(b),
      (b) => arch.setFrame(b, 0x1000),
      (b) => arch.setFrame(page, b),
      (b) => arch.getPage(b, 0x40_0000, MEM_CREATE),
      (b) => arch.getPage(0, b, MEM_CREATE),
      (b) => arch.getPage(0, 0x80_0000, b),
      (b) => arch.allocatePage(b, MEM_DEFAULT),
      (b) => arch.allocatePage(page, b),
      (b) => arch.freePage(b),
      (b) => arch.mapAddress(b, 0x1000, 0x80_0000, 0),
      (b) => arch.mapAddress(0, b, 0x80_0000, 0),
      (b) => arch.mapAddress(0, 0x1000, b, 0),
      (b) => arch.mapAddress(0, 0x1000, 0x80_0000, b),
      (b) => arch.getPhysicalAddress(b, 0x40_0000),
      (b) => arch.getPhysicalAddress(0, b),
      (b) => arch.remapPhys(b, 0x1000),
      (b) => arch.remapPhys(0x1000, b),
      (b) => arch.unmapPhys(b, 0x1000),
      (b) => arch.unmapPhys(arch.layout.hhdm.base, b),
      (b) => arch.invalidatePage(b),
      (b) => arch.cloneVAS(b),
      (b) => arch.switchDirectory(b),
      (b) => arch.destroyVAS(b),
    ];
    calls.forEach((call, n) => {
      for (const bad of BAD) {
        expect(() => call(bad), `call #${n} with ${String(bad)}`).toThrow(InvalidArgumentError);
      }
    });
    expect(() => arch.parseAddress(0x1_0000_0000_0000_0000n)).toThrow(InvalidArgumentError);
    expect(() => arch.destroyVAS(vas + 0x1000)).toThrow(InvalidArgumentError);
    expect(snapshot(arch, frames, memory)).toBe(before);
    expect(arch.mmu.cr3).toBe(cr3);
  });

  test("every VirtualMemory entry point", () => {
    const { arch, frames, memory } = bootTestArch();
    const base = arch.layout.heap.base;
    arch.memory.map(base, 0x8_0000, 0x2000, RW);
    arch.memory.write32(base, 0x1234_5678);
    const before = snapshot(arch, frames, memory);
    const vm = arch.memory;
    const calls: ((bad: number) => unknown)[] = [
      (b) => vm.map(b, 0x9_0000, 0x1000, RW),
      (b) => vm.map(base + 0x10_0000, b, 0x1000, RW),
      (b) => vm.map(base + 0x10_0000, 0x9_0000, b, RW),
      (b) => vm.unmap(b, 0x1000),
      (b) => vm.unmap(base, b),
      (b) => vm.protect(b, 0x1000, RW),
      (b) => vm.protect(base, b, RW),
      (b) => vm.translate(b),
      (b) => vm.read8(b),
      (b) => vm.read16(b),
      (b) => vm.read32(b),
      (b) => vm.read64(b),
      (b) => vm.write8(b, 1),
      (b) => vm.write16(b, 1),
      (b) => vm.write32(b, 1),
      (b) => vm.write64(b, 1n),
      (b) => vm.fill(b, 4, 0),
      (b) => vm.fill(base, b, 0),
      (b) => vm.fill(base, 4, b),
      (b) => vm.copy(b, base, 4),
      (b) => vm.copy(base, b, 4),
      (b) => vm.copy(base, base + 8, b),
      (b) => vm.read(b, new Uint8Array(4)),
      (b) => vm.write(b, new Uint8Array(4)),
    ];
    calls.forEach((call, n) => {
      for (const bad of BAD) {
        // Integers past the linear space are a #GP, as on the CPU.
        const expected =
          bad === 2 ** 53 || bad === Number.POSITIVE_INFINITY
            ? [InvalidArgumentError, GeneralProtectionFault]
            : [InvalidArgumentError];
        let error: unknown;
        try {
          call(bad);
        } catch (e) {
          error = e;
        }
        expect(
          expected.some((type) => error instanceof type),
          `VirtualMemory call #${n} with ${String(bad)} threw ${String(error)}`,
        ).toBe(true);
      }
    });
    expect(snapshot(arch, frames, memory)).toBe(before);
    expect(vm.read32(base)).toBe(0x1234_5678);
  });

  test("control registers and MSRs refuse non-integers and keep their values", () => {
    const { arch } = bootTestArch();
    const mmu = arch.mmu;
    const state = [mmu.cr0, mmu.cr3, mmu.cr4, mmu.efer, mmu.pat];
    // Negative 32-bit values are accepted for CR0/CR4/EFER (JS bit operations make them), so -1 is not bad there.
    for (const bad of BAD.filter((b) => b !== -1)) {
      expect(() => mmu.writeCr0(bad)).toThrow(InvalidArgumentError);
      expect(() => mmu.writeCr3(bad)).toThrow(InvalidArgumentError);
      expect(() => mmu.writeCr4(bad)).toThrow(InvalidArgumentError);
      expect(() => mmu.writeEfer(bad)).toThrow(InvalidArgumentError);
      expect(() => mmu.patEntry(bad)).toThrow(InvalidArgumentError);
    }
    expect(() => mmu.writeCr3(-1)).toThrow(InvalidArgumentError);
    expect(() => mmu.writeCr0(-0x8000_0001)).toThrow(InvalidArgumentError);
    expect(() => mmu.writePat(-1n)).toThrow(InvalidArgumentError);
    expect(() => mmu.writePat(2n ** 64n)).toThrow(InvalidArgumentError);
    expect([mmu.cr0, mmu.cr3, mmu.cr4, mmu.efer, mmu.pat]).toEqual(state);
  });
});
