import {
  Access,
  GeneralProtectionFault,
  InvalidArgumentError,
  MEM_CREATE,
  MEM_DEFAULT,
  MEM_PAGE_KERNEL,
  MEM_PAGE_READONLY,
  MemoryType,
  PageFault,
} from "@ksim/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { CR0_WP, CR4_SMAP } from "./control.js";
import { PTE_A, PTE_D } from "./pte.js";
import { bootTestArch } from "./testing/harness.js";

const RW = { writable: true, user: false, executable: false } as const;

/** A rig with `pages` kernel pages mapped at the heap base onto physically scattered frames. */
function mapped(pages = 4) {
  const rig = bootTestArch();
  const base = rig.arch.layout.heap.base;
  // Scattered on purpose: page i -> frame 0x80000 + (pages - 1 - i) * 0x2000.
  for (let i = 0; i < pages; i++) {
    const result = rig.arch.memory.map(base + i * 0x1000, 0x8_0000 + (pages - 1 - i) * 0x2000, 0x1000, RW);
    expect(result.ok).toBe(true);
  }
  const physOf = (offset: number) => 0x8_0000 + (pages - 1 - Math.floor(offset / 0x1000)) * 0x2000 + (offset % 0x1000);
  return { ...rig, base, physOf };
}

describe("scalar accesses", () => {
  test("every width reads and writes little-endian through the page tables", () => {
    const { arch, memory, base, physOf } = mapped();
    const vm = arch.memory;
    vm.write8(base + 1, 0xab);
    vm.write16(base + 2, 0xbeef);
    vm.write32(base + 4, 0xdead_beef);
    vm.write64(base + 8, 0x0123_4567_89ab_cdefn);
    expect(memory.read8(physOf(1))).toBe(0xab);
    expect(memory.read16(physOf(2))).toBe(0xbeef);
    expect(memory.read32(physOf(4))).toBe(0xdead_beef);
    expect(memory.read64(physOf(8))).toBe(0x0123_4567_89ab_cdefn);
    expect(vm.read8(base + 1)).toBe(0xab);
    expect(vm.read16(base + 2)).toBe(0xbeef);
    expect(vm.read32(base + 4)).toBe(0xdead_beef);
    expect(vm.read64(base + 8)).toBe(0x0123_4567_89ab_cdefn);
  });

  test("accesses crossing a page boundary land in two non-adjacent frames", () => {
    const { arch, memory, base, physOf } = mapped();
    const vm = arch.memory;
    for (const [width, at] of [
      [2, 0xfff],
      [4, 0xffd],
      [4, 0xfff],
      [8, 0xff9],
    ] as const) {
      const v = base + at;
      if (width === 2) vm.write16(v, 0x1234);
      if (width === 4) vm.write32(v, 0x1234_5678);
      if (width === 8) vm.write64(v, 0x1122_3344_5566_7788n);
      const bytes = Array.from({ length: width }, (_, k) => memory.read8(physOf(at + k)));
      const expected =
        width === 2
          ? [0x34, 0x12]
          : width === 4
            ? [0x78, 0x56, 0x34, 0x12]
            : [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11];
      expect(bytes).toEqual(expected);
      if (width === 2) expect(vm.read16(v)).toBe(0x1234);
      if (width === 4) expect(vm.read32(v)).toBe(0x1234_5678);
      if (width === 8) expect(vm.read64(v)).toBe(0x1122_3344_5566_7788n);
    }
  });

  test("a write crossing into an unmapped page faults before writing anything", () => {
    const { arch, memory, base, physOf } = mapped(1);
    expect(() => arch.memory.write32(base + 0xffe, 0xffff_ffff)).toThrow(PageFault);
    expect(() => arch.memory.write64(base + 0xffc, -1n)).toThrow(PageFault);
    expect(memory.read32(physOf(0xffc))).toBe(0);
  });

  test("unmapped, read-only and user accesses throw PageFault with the x86 error code", () => {
    const { arch, base } = mapped(1);
    try {
      arch.memory.read32(base + 0x1000);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PageFault);
      expect((error as PageFault).errorCode).toBe(0);
      expect((error as PageFault).address).toBe(base + 0x1000);
    }
    arch.memory.protect(base, 0x1000, { writable: false, user: false, executable: false });
    expect(() => arch.memory.write8(base, 1)).toThrow(/error code 0x3/);
    expect(() => arch.userMemory.read8(base)).toThrow(/error code 0x5/);
  });

  test("accesses set Accessed, and writes set Dirty, in the PTE", () => {
    const { arch, base } = mapped(2);
    const page = arch.getPage(0, base, 0);
    arch.memory.read32(base);
    expect(arch.tables.lo(page) & (PTE_A | PTE_D)).toBe(PTE_A);
    arch.memory.write32(base, 1);
    expect(arch.tables.lo(page) & (PTE_A | PTE_D)).toBe(PTE_A | PTE_D);
  });

  test("bad addresses: fractional or NaN are InvalidArgumentError, beyond 2^48 is #GP", () => {
    const { arch, base } = mapped(1);
    arch.memory.read32(base); // warm the TLB: the checks must hold on the fast path too
    expect(() => arch.memory.read32(base + 0.5)).toThrow(InvalidArgumentError);
    expect(() => arch.memory.write32(base + 0.5, 1)).toThrow(InvalidArgumentError);
    expect(() => arch.memory.read8(Number.NaN)).toThrow(InvalidArgumentError);
    expect(() => arch.memory.read32(-4)).toThrow(InvalidArgumentError);
    expect(() => arch.memory.read32(2 ** 48)).toThrow(GeneralProtectionFault);
    expect(() => arch.memory.read32(2 ** 48 - 2)).toThrow(GeneralProtectionFault);
  });
});

describe("the L1 TLB follows control-register changes", () => {
  test("SMAP: a kernel read of a user page faults, works under stac (AC = 1), and faults again after clac", () => {
    const { arch } = bootTestArch();
    arch.allocatePage(arch.getPage(0, 0x40_0000, MEM_CREATE), MEM_DEFAULT);
    arch.memory.write32(0x40_0000, 5); // cached in the L1 before SMAP is turned on
    arch.mmu.writeCr4(arch.mmu.cr4 | CR4_SMAP);
    expect(() => arch.memory.read32(0x40_0000)).toThrow(/SMAP/);
    arch.mmu.setAlignmentCheck(true);
    expect(arch.memory.read32(0x40_0000)).toBe(5);
    arch.mmu.setAlignmentCheck(false);
    expect(() => arch.memory.read32(0x40_0000)).toThrow(/SMAP/);
    expect(arch.userMemory.read32(0x40_0000)).toBe(5);
  });

  test("CR0.WP: a kernel write to a read-only page works with WP = 0 and faults again once WP is set", () => {
    const { arch } = bootTestArch();
    const page = arch.getPage(0, 0x40_0000, MEM_CREATE);
    arch.allocatePage(page, MEM_PAGE_READONLY);
    expect(() => arch.memory.write32(0x40_0000, 1)).toThrow(PageFault);
    arch.mmu.writeCr0(arch.mmu.cr0 & ~CR0_WP);
    arch.memory.write32(0x40_0000, 1);
    arch.mmu.writeCr0(arch.mmu.cr0 | CR0_WP);
    expect(() => arch.memory.write32(0x40_0000, 2)).toThrow(PageFault);
    expect(arch.memory.read32(0x40_0000)).toBe(1);
  });

  test("a CR3 switch empties the L1: the new space's mapping is used at once", () => {
    const { arch } = bootTestArch();
    const a = arch.createVAS();
    const b = arch.createVAS();
    arch.mapAddress(a, 0x8_0000, 0x40_0000, MEM_PAGE_KERNEL);
    arch.mapAddress(b, 0x9_0000, 0x40_0000, MEM_PAGE_KERNEL);
    arch.switchDirectory(a);
    arch.memory.write32(0x40_0000, 0xa);
    arch.switchDirectory(b);
    arch.memory.write32(0x40_0000, 0xb);
    arch.switchDirectory(a);
    expect(arch.memory.read32(0x40_0000)).toBe(0xa);
  });
});

describe("bulk accesses", () => {
  test("fill, read and write span scattered frames and match a flat model", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x3fff }),
        fc.integer({ min: 0, max: 0x2000 }),
        fc.uint8Array({ minLength: 0, maxLength: 0x1800 }),
        fc.integer({ min: 0, max: 255 }),
        (start, fillLength, data, byte) => {
          const { arch, base } = mapped(4);
          const model = new Uint8Array(0x4000);
          const fillLen = Math.min(fillLength, 0x4000 - start);
          arch.memory.fill(base + start, fillLen, byte);
          model.fill(byte, start, start + fillLen);
          const at = Math.min(start, 0x4000 - data.length);
          arch.memory.write(base + at, data);
          model.set(data, at);
          const out = new Uint8Array(0x4000);
          arch.memory.read(base, out);
          expect(out).toEqual(model);
        },
      ),
      { numRuns: 40 },
    );
  });

  test("copy behaves like memmove, overlapping or not", () => {
    fc.assert(
      fc.property(fc.nat(0x3000), fc.nat(0x3000), fc.nat(0x1000), (from, to, length) => {
        const { arch, base } = mapped(4);
        const model = new Uint8Array(0x4000).map((_, i) => (i * 7) & 0xff);
        arch.memory.write(base, model);
        arch.memory.copy(base + to, base + from, length);
        model.copyWithin(to, from, from + length);
        const out = new Uint8Array(0x4000);
        arch.memory.read(base, out);
        expect(out).toEqual(model);
      }),
      { numRuns: 40 },
    );
  });

  test("a fill that reaches an unmapped page throws PageFault", () => {
    const { arch, base } = mapped(2);
    expect(() => arch.memory.fill(base, 0x3000, 1)).toThrow(PageFault);
    expect(() => arch.memory.fill(base, 8, 256)).toThrow(InvalidArgumentError);
  });
});

describe("map, unmap, protect", () => {
  test("map is all or nothing: an already-mapped page in the range fails it and nothing is added", () => {
    const { arch, frames, base } = mapped(1);
    const free = frames.stats().freeFrames;
    const result = arch.memory.map(base - 0x20_0000, 0x10_0000, 0x20_1000, RW);
    expect(result).toMatchObject({ ok: false, reason: "already-mapped", address: base });
    expect(frames.stats().freeFrames).toBe(free);
    expect(arch.memory.translate(base - 0x20_0000)).toBe(-1);
  });

  test("map honours protection and memory type; translate reports the mapping without touching A bits", () => {
    const { arch } = bootTestArch();
    const mmio = arch.layout.mmio.base;
    expect(arch.memory.map(mmio, 0xfd00_0000, 0x2000, { ...RW, memoryType: MemoryType.WC, global: true }).ok).toBe(
      true,
    );
    expect(arch.memory.translate(mmio + 0x1004)).toBe(0xfd00_1004);
    expect(arch.tables.lo(arch.getPage(0, mmio, 0)) & PTE_A).toBe(0);
    expect(arch.mmu.translate(mmio + 0x1004, Access.Write, false)).toBe(0xfd00_1004);
    expect(arch.mmu.lastTranslation).toMatchObject({ memoryType: MemoryType.WC, global: true, executable: false });
    expect(arch.mmu.translate(mmio, Access.Execute, false)).toBe(-1);
    arch.memory.map(mmio + 0x2000, 0xfd00_2000, 0x1000, { ...RW, memoryType: MemoryType.UC_MINUS });
    arch.mmu.translate(mmio + 0x2000, Access.Read, false);
    expect(arch.mmu.lastTranslation.memoryType).toBe(MemoryType.UC); // UC- resolves to UC (MTRRs all WB)
    expect(arch.mmu.explain(mmio + 0x2000).result).toMatchObject({ patType: MemoryType.UC_MINUS });
    expect(arch.mmu.infoMem()).toContain("UC-");
  });

  test("unmap keeps caller frames and releases owned ones", () => {
    const { arch, frames } = bootTestArch();
    const page = arch.getPage(0, 0x40_0000, MEM_CREATE);
    arch.allocatePage(page, MEM_DEFAULT);
    arch.mapAddress(0, 0x8_0000, 0x40_1000, MEM_DEFAULT);
    const free = frames.stats().freeFrames;
    arch.memory.unmap(0x40_0000, 0x3000);
    expect(frames.stats().freeFrames).toBe(free + 1);
    expect(arch.memory.translate(0x40_1000)).toBe(-1);
  });

  test("protect refuses a range with an unmapped page and changes nothing", () => {
    const { arch, base } = mapped(1);
    expect(() => arch.memory.protect(base, 0x2000, { writable: false, user: false, executable: false })).toThrow(
      /not mapped/,
    );
    arch.memory.write32(base, 1);
  });

  test("bad arguments are InvalidArgumentError: misaligned, zero or fractional sizes, unknown memory types", () => {
    const { arch, base } = mapped(1);
    expect(() => arch.memory.map(base + 1, 0, 0x1000, RW)).toThrow(/not aligned/);
    expect(() => arch.memory.map(base + 0x10_0000, 0x1001, 0x1000, RW)).toThrow(/not aligned/);
    expect(() => arch.memory.map(base + 0x10_0000, 0, 0, RW)).toThrow(/at least 1/);
    expect(() => arch.memory.map(base + 0x10_0000, 0, 0x800, RW)).toThrow(/not aligned/);
    expect(() => arch.memory.map(base + 0x10_0000, 2 ** 46 - 0x1000, 0x2000, RW)).toThrow(/MAXPHYADDR/);
    expect(() => arch.memory.map(base + 0x10_0000, 0, 0x1000, { ...RW, memoryType: 3 as never })).toThrow(
      /no PAT entry/,
    );
    expect(() => arch.memory.unmap(base, 0x1001)).toThrow(/not aligned/);
    expect(arch.memory.translate(base + 0x10_0000)).toBe(-1);
  });
});
