import { Access, KernelPanic, MEM_CREATE, MEM_PAGE_KERNEL, MemoryType, PageFault } from "@ksim/core";
import { describe, expect, test } from "vitest";
import { bootTestArch, snapshot } from "./testing/harness.js";
import type { X86_64 } from "./x86-64.js";

// Large pages (the HHDM's 1 GiB pages) are split into smaller ones when a call changes only part of them:
// mem_getPage(MEM_CREATE), mem_mapAddress, VirtualMemory.unmap and protect. A split maps the same memory with the
// same rights and memory type; only the pages the call changes change.

const MiB = 0x10_0000;
const RW = { writable: true, user: false, executable: false } as const;

/** Physical address, memory type and page size of `linear`, and which accesses the MMU allows there. */
function mapping(arch: X86_64, linear: number): string {
  const e = arch.mmu.explain(linear, Access.Read, false);
  if (!e.result.ok) return "unmapped";
  const rights = [Access.Write, Access.Execute]
    .map((a) => (arch.mmu.explain(linear, a, false).result.ok ? "y" : "n"))
    .join("");
  const user = arch.mmu.explain(linear, Access.Read, true).result.ok ? "u" : "s";
  return `${e.result.physical.toString(16)} type ${e.result.memoryType} ${rights}${user}`;
}

/** Addresses across the HHDM's first 1 GiB page: each 2 MiB region's start, middle and end, and more. */
function samples(base: number): number[] {
  const out: number[] = [];
  for (let region = 0; region < 512; region += 37) {
    const r = base + region * 2 * MiB;
    out.push(r, r + 0x5008, r + 2 * MiB - 4);
  }
  out.push(base + 0x3ffff_ff00);
  return out;
}

describe("large pages are split when a call changes only part of them", () => {
  test("mem_getPage(MEM_CREATE) in the HHDM splits its 1 GiB page: every address maps as before", () => {
    const { arch } = bootTestArch();
    const hhdm = arch.layout.hhdm.base;
    const before = samples(hhdm).map((v) => mapping(arch, v));
    const tables = arch.tables.tables.size;
    const pte = arch.getPage(0, hhdm + 0x20_5000, MEM_CREATE);
    expect(pte).not.toBe(0);
    expect(arch.getPage(0, hhdm + 0x20_5000, 0)).toBe(pte); // now it has a page_t
    expect(arch.tables.tables.size).toBe(tables + 2); // a 2 MiB-level table and a page table
    expect(samples(hhdm).map((v) => mapping(arch, v))).toEqual(before);
    expect(arch.mmu.explain(hhdm + 0x20_5000).result).toMatchObject({ ok: true, pageSize: 0x1000 });
    expect(arch.mmu.explain(hhdm + 0x40_0000).result).toMatchObject({ ok: true, pageSize: 2 * MiB });
  });

  test("mem_mapAddress into the HHDM remaps one 4 KiB page; the rest of the large page is unchanged", () => {
    const { arch, memory } = bootTestArch();
    const hhdm = arch.layout.hhdm.base;
    memory.write32(0x8_0000, 0xabcd);
    memory.write32(0x5000, 0x1111);
    memory.write32(0x6000, 0x2222);
    expect(arch.memory.read32(hhdm + 0x5000)).toBe(0x1111); // cached as a 1 GiB translation
    arch.mapAddress(0, 0x8_0000, hhdm + 0x5000, MEM_PAGE_KERNEL);
    expect(arch.memory.read32(hhdm + 0x5000)).toBe(0xabcd);
    expect(arch.memory.read32(hhdm + 0x6000)).toBe(0x2222);
    expect(arch.memory.read32(hhdm + 0x8_0000)).toBe(0xabcd);
  });

  test("unmap of one page inside a large page: that page faults at once, its neighbours read as before", () => {
    const { arch, memory } = bootTestArch();
    const hhdm = arch.layout.hhdm.base;
    memory.write32(0x22_2000, 7);
    memory.write32(0x22_4000, 9);
    const victim = hhdm + 0x22_3000;
    expect(arch.memory.read32(victim)).toBe(0); // the 1 GiB translation is in the TLB now
    arch.memory.unmap(victim, 0x1000);
    expect(() => arch.memory.read32(victim)).toThrow(PageFault);
    expect(arch.memory.read32(victim - 0x1000)).toBe(7);
    expect(arch.memory.read32(victim + 0x1000)).toBe(9);
    expect(arch.memory.translate(hhdm + 0x3000_0000)).toBe(0x3000_0000);
  });

  test("a 2 MiB page wholly inside the range goes at once, without a page table", () => {
    const { arch } = bootTestArch();
    const hhdm = arch.layout.hhdm.base;
    arch.memory.unmap(hhdm + 0x1000, 0x1000); // 1 GiB -> 2 MiB pages, the first one -> 4 KiB pages
    const tables = arch.tables.tables.size;
    arch.memory.unmap(hhdm + 4 * MiB, 2 * MiB);
    expect(arch.tables.tables.size).toBe(tables);
    expect(arch.memory.translate(hhdm + 4 * MiB)).toBe(-1);
    expect(arch.memory.translate(hhdm + 6 * MiB - 4)).toBe(-1);
    expect(arch.memory.translate(hhdm + 6 * MiB)).toBe(6 * MiB);
    expect(arch.memory.translate(hhdm + 4 * MiB - 4)).toBe(4 * MiB - 4);
  });

  test("protect of part of a large page splits it; a 2 MiB page wholly inside keeps its size", () => {
    const { arch } = bootTestArch();
    const hhdm = arch.layout.hhdm.base;
    arch.memory.protect(hhdm + 0x1000, 2 * MiB + 4 * MiB - 0x1000, { writable: false, user: false, executable: false });
    expect(() => arch.memory.write32(hhdm + 0x1000, 1)).toThrow(PageFault);
    expect(() => arch.memory.write32(hhdm + 3 * MiB, 1)).toThrow(PageFault);
    arch.memory.write32(hhdm, 1); // the first page was outside the range
    arch.memory.write32(hhdm + 6 * MiB, 1);
    expect(arch.mmu.explain(hhdm + 3 * MiB).result).toMatchObject({ ok: true, pageSize: 2 * MiB });
    expect(arch.mmu.explain(hhdm + 0x1000).result).toMatchObject({ ok: true, pageSize: 0x1000 });
  });

  test("the memory type survives: a write-combining 2 MiB page split into 4 KiB pages stays write-combining", () => {
    const { arch } = bootTestArch();
    const hhdm = arch.layout.hhdm.base;
    arch.memory.unmap(hhdm + 0x1000, 0x1000);
    const region = hhdm + 8 * MiB;
    arch.memory.protect(region, 2 * MiB, { ...RW, memoryType: MemoryType.WC });
    const whole = arch.mmu.explain(region + 0x3000).result;
    expect(whole).toMatchObject({ ok: true, pageSize: 2 * MiB, memoryType: MemoryType.WC });
    arch.memory.unmap(region + 0x10_0000, 0x1000); // splits the WC page
    expect(arch.mmu.explain(region + 0x3000).result).toMatchObject({
      ok: true,
      pageSize: 0x1000,
      memoryType: MemoryType.WC,
      physical: 8 * MiB + 0x3000,
    });
  });

  test("out of frames while splitting: mem_getPage returns 0, unmap and protect panic; nothing changes", () => {
    for (let k = 0; k < 2; k++) {
      const rig = bootTestArch();
      const { arch, frames, memory } = rig;
      const hhdm = arch.layout.hhdm.base;
      const before = snapshot(arch, frames, memory);
      frames.arm(k);
      expect(arch.getPage(0, hhdm + 0x5000, MEM_CREATE)).toBe(0);
      frames.arm(k);
      expect(() => arch.memory.unmap(hhdm + 0x5000, 0x1000)).toThrow(KernelPanic);
      frames.arm(k);
      expect(() => arch.memory.protect(hhdm + 0x5000, 0x1000, RW)).toThrow(KernelPanic);
      frames.arm(-1);
      expect(snapshot(arch, frames, memory)).toBe(before);
      expect(arch.memory.translate(hhdm + 0x5000)).toBe(0x5000);
      expect(arch.mmu.explain(hhdm + 0x5000).result).toMatchObject({ ok: true, pageSize: 0x4000_0000 });
    }
  });
});

describe("4 KiB pieces of large pages in the L1", () => {
  /** The kernel-read tier-1 tag of `linear`'s 4 KiB page (NaN when the L1 does not hold it there). */
  const tier1 = (arch: X86_64, linear: number) =>
    arch.mmu.tlb.l1Linear[0]![Math.floor(linear / 0x1000) & arch.mmu.tlb.l1Mask]!;

  test("HHDM reads take the L1's fast tier from their second access", () => {
    const { arch, memory } = bootTestArch();
    const v = arch.layout.hhdm.base + 0x7000;
    memory.write32(0x7010, 0x5151);
    expect(arch.memory.read32(v + 0x10)).toBe(0x5151);
    expect(arch.memory.read32(v + 0x10)).toBe(0x5151);
    expect(tier1(arch, v)).toBe(v);
  });

  test("invlpg of any address in the large page drops every piece of it, as it drops the large entry", () => {
    const { arch } = bootTestArch();
    const hhdm = arch.layout.hhdm.base;
    const pieces = [0x7000, 0x20_0000, 0xc0_0000].map((off) => hhdm + off);
    for (const v of pieces) {
      arch.memory.read32(v);
      arch.memory.read32(v);
      expect(tier1(arch, v)).toBe(v);
    }
    arch.mmu.invalidate(hhdm + 0x3fff_f000); // another address of the same 1 GiB page
    for (const v of pieces) expect(tier1(arch, v)).toBeNaN();
    expect(arch.memory.translate(pieces[2]!)).toBe(0xc0_0000);
  });

  test("a 2 MiB page remapped in RAM is seen through all its pieces after one invlpg inside it", () => {
    const { arch, memory } = bootTestArch();
    const hhdm = arch.layout.hhdm.base;
    arch.memory.unmap(hhdm + 0x1000, 0x1000); // 1 GiB -> 2 MiB pages (and the first one -> 4 KiB)
    const region = hhdm + 4 * MiB; // a 2 MiB page mapping physical 4 MiB
    memory.write32(4 * MiB + 0x3000, 0x1111);
    memory.write32(6 * MiB + 0x3000, 0x2222);
    for (let k = 0; k < 2; k++) expect(arch.memory.read32(region + 0x3000)).toBe(0x1111);
    const out = new Float64Array(2);
    arch.tables.leafFor(arch.mmu.pml4Base, region, out);
    expect(out[1]).toBe(2);
    const lo = arch.tables.lo(out[0]!);
    arch.tables.write(out[0]!, lo + 2 * MiB, arch.tables.hi(out[0]!)); // now maps physical 6 MiB
    expect(arch.memory.read32(region + 0x3000)).toBe(0x1111); // stale, as on hardware
    arch.mmu.invalidate(region + 0x1f_f000);
    expect(arch.memory.read32(region + 0x3000)).toBe(0x2222);
  });

  test("past 16 large pages with pieces, any invlpg empties the L1, and nothing stale survives", () => {
    const { arch, memory } = bootTestArch(64);
    const hhdm = arch.layout.hhdm.base;
    arch.memory.unmap(hhdm + 0x1000, 0x1000); // 2 MiB pages from here on
    for (let n = 2; n < 24; n++) {
      arch.memory.read32(hhdm + n * 2 * MiB);
      arch.memory.read32(hhdm + n * 2 * MiB);
    }
    const out = new Float64Array(2);
    const target = hhdm + 3 * 2 * MiB;
    arch.tables.leafFor(arch.mmu.pml4Base, target, out);
    arch.tables.write(out[0]!, 0, 0);
    arch.mmu.invalidate(target + 0x5000);
    expect(() => arch.memory.read32(target)).toThrow(PageFault);
    memory.write32(20 * 2 * MiB, 0x77);
    expect(arch.memory.read32(hhdm + 20 * 2 * MiB)).toBe(0x77);
  });
});
