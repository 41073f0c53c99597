import { Access, type AccessKind, GeneralProtectionFault, MemoryType, PageFault } from "@ksim/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CR4_PAE,
  CR4_PGE,
  CR4_SMAP,
  CR4_SMEP,
  EFER_LME,
  EFER_NXE,
  PF_ID,
  PF_P,
  PF_RSVD,
  PF_US,
  PF_WR,
} from "./control.js";
import { X86Mmu } from "./mmu.js";
import { KSIM_PAT, POWER_ON_PAT, packPat } from "./pat.js";
import { PTE_A, PTE_D, PTE_G, PTE_HI_XD, PTE_P, PTE_PCD, PTE_PS, PTE_PWT, PTE_RW, PTE_US } from "./pte.js";
import { FlatMemory } from "./testing/flat-memory.js";

// Hand-built tables, as in SDM figure 4-8: linear 0x400000 -> PML4[0] -> PDPT[0] -> PD[2] -> PT[0] -> 0x100000.
const PML4 = 0x1000;
const PDPT = 0x2000;
const PD = 0x3000;
const PT = 0x4000;
const FRAME = 0x10_0000;
const V = 0x40_0000;
const URW = PTE_P | PTE_RW | PTE_US;
/** Entry addresses on the path of V, by level. */
const AT = { 4: PML4, 3: PDPT, 2: PD + 2 * 8, 1: PT } as const;
const NAME = { 4: "PML4E", 3: "PDPTE", 2: "PDE", 1: "PTE" } as const;
const LEVELS = [4, 3, 2, 1] as const;

function rig(options: { maxPhy?: number; cr4?: number; efer?: number; cr0?: number; pdeCache?: boolean } = {}) {
  const memory = new FlatMemory(8 * 1024 * 1024);
  const mmu = new X86Mmu({
    memory,
    physicalAddressBits: options.maxPhy ?? 40,
    tlbEntries: 64,
    pdeCache: options.pdeCache,
  });
  const set = (address: number, lo: number, hi = 0) => {
    memory.write32(address, lo >>> 0);
    memory.write32(address + 4, hi >>> 0);
  };
  const lo = (address: number) => memory.read32(address);
  set(AT[4], PDPT | URW);
  set(AT[3], PD | URW);
  set(AT[2], PT | URW);
  set(AT[1], FRAME | URW);
  mmu.writePat(packPat(KSIM_PAT));
  mmu.writeEfer(options.efer ?? EFER_LME | EFER_NXE);
  mmu.writeCr4(options.cr4 ?? CR4_PAE | CR4_PGE);
  mmu.writeCr3(PML4);
  mmu.writeCr0(options.cr0 ?? (CR0_PE | CR0_PG | CR0_WP) >>> 0);
  return { memory, mmu, set, lo };
}

function fault(mmu: X86Mmu, linear: number, access: AccessKind, user: boolean) {
  const result = mmu.translate(linear, access, user);
  expect(result).toBe(-1);
  return { ...mmu.lastFault, vector: mmu.lastFaultVector };
}

describe("the SDM walk: present bits and error codes", () => {
  test("a mapped 4 KiB page translates to frame + offset with every level used", () => {
    const { mmu } = rig();
    expect(mmu.translate(V + 0x123, Access.Read, false)).toBe(FRAME + 0x123);
    expect(mmu.lastTranslation).toMatchObject({
      pageSize: 0x1000,
      writable: true,
      user: true,
      memoryType: MemoryType.WB,
    });
  });

  for (const level of LEVELS) {
    test(`a non-present ${NAME[level]} faults with P = 0 and the access bits, CR2 = the address`, () => {
      const { mmu, set } = rig();
      set(AT[level], 0);
      expect(fault(mmu, V + 8, Access.Read, false)).toMatchObject({ errorCode: 0, address: V + 8, vector: 14 });
      expect(mmu.lastFault.reason).toContain(`${NAME[level]} not present`);
      expect(fault(mmu, V, Access.Write, false).errorCode).toBe(PF_WR);
      expect(fault(mmu, V, Access.Read, true).errorCode).toBe(PF_US);
      expect(fault(mmu, V, Access.Write, true).errorCode).toBe(PF_WR | PF_US);
      expect(fault(mmu, V, Access.Execute, false).errorCode).toBe(PF_ID);
    });
  }

  test("I/D is reported only when EFER.NXE or CR4.SMEP is on (SDM 4.7)", () => {
    const { mmu, set } = rig({ efer: EFER_LME });
    set(AT[1], 0);
    expect(fault(mmu, V, Access.Execute, false).errorCode).toBe(0);
    mmu.writeCr4(CR4_PAE | CR4_SMEP);
    expect(fault(mmu, V, Access.Execute, false).errorCode).toBe(PF_ID);
  });

  test("a fault through mmu.translateOrThrow is a PageFault naming the canonical address", () => {
    const { mmu, set } = rig();
    set(AT[2], 0);
    expect(() => mmu.translateOrThrow(V, Access.Write, true)).toThrow(PageFault);
    try {
      mmu.translateOrThrow(V, Access.Write, true);
    } catch (error) {
      expect((error as PageFault).errorCode).toBe(PF_WR | PF_US);
      expect((error as Error).message).toContain("0x0000000000400000");
    }
  });
});

describe("permissions combined across levels (SDM 4.6)", () => {
  for (const level of LEVELS) {
    test(`R/W = 0 in the ${NAME[level]} makes the page read-only for user writes (P|W|U = 0x7)`, () => {
      const { mmu, set, lo } = rig();
      set(AT[level], lo(AT[level]) & ~PTE_RW);
      expect(mmu.translate(V, Access.Read, true)).toBe(FRAME);
      expect(fault(mmu, V, Access.Write, true).errorCode).toBe(PF_P | PF_WR | PF_US);
    });

    test(`U/S = 0 in the ${NAME[level]} makes the page supervisor-only (user read: P|U = 0x5)`, () => {
      const { mmu, set, lo } = rig();
      set(AT[level], lo(AT[level]) & ~PTE_US);
      expect(fault(mmu, V, Access.Read, true).errorCode).toBe(PF_P | PF_US);
      expect(mmu.translate(V, Access.Read, false)).toBe(FRAME);
    });

    test(`XD in the ${NAME[level]} forbids instruction fetches (P|I/D = 0x11) but not data reads`, () => {
      const { mmu, set, lo } = rig();
      set(AT[level], lo(AT[level]), PTE_HI_XD);
      expect(fault(mmu, V, Access.Execute, false).errorCode).toBe(PF_P | PF_ID);
      expect(fault(mmu, V, Access.Execute, true).errorCode).toBe(PF_P | PF_ID | PF_US);
      expect(mmu.translate(V, Access.Read, true)).toBe(FRAME);
    });
  }

  test("CR0.WP: a supervisor write to a read-only page faults with WP = 1 (0x3) and succeeds with WP = 0", () => {
    const { mmu, set } = rig();
    set(AT[1], FRAME | PTE_P | PTE_US);
    expect(fault(mmu, V, Access.Write, false).errorCode).toBe(PF_P | PF_WR);
    mmu.writeCr0((CR0_PE | CR0_PG) >>> 0);
    expect(mmu.translate(V, Access.Write, false)).toBe(FRAME);
    // WP never relaxes user-mode writes.
    expect(fault(mmu, V, Access.Write, true).errorCode).toBe(PF_P | PF_WR | PF_US);
  });

  test("SMEP: a supervisor fetch from a user page faults (0x11); from a supervisor page it runs", () => {
    const { mmu, set, lo } = rig({ cr4: CR4_PAE | CR4_SMEP });
    expect(fault(mmu, V, Access.Execute, false).errorCode).toBe(PF_P | PF_ID);
    expect(mmu.lastFault.reason).toContain("SMEP");
    set(AT[1], lo(AT[1]) & ~PTE_US);
    expect(mmu.translate(V, Access.Execute, false)).toBe(FRAME);
  });

  test("SMAP: supervisor data accesses to user pages fault unless EFLAGS.AC is set; fetches are SMEP's business", () => {
    const { mmu } = rig({ cr4: CR4_PAE | CR4_SMAP });
    expect(fault(mmu, V, Access.Read, false).errorCode).toBe(PF_P);
    expect(fault(mmu, V, Access.Write, false).errorCode).toBe(PF_P | PF_WR);
    expect(mmu.lastFault.reason).toContain("SMAP");
    expect(mmu.translate(V, Access.Execute, false)).toBe(FRAME);
    mmu.setAlignmentCheck(true);
    expect(mmu.translate(V, Access.Write, false)).toBe(FRAME);
    mmu.setAlignmentCheck(false);
    expect(mmu.translate(V, Access.Read, false)).toBe(-1);
  });

  test("user accesses are never affected by SMEP/SMAP", () => {
    const { mmu } = rig({ cr4: CR4_PAE | CR4_SMAP | CR4_SMEP });
    expect(mmu.translate(V, Access.Read, true)).toBe(FRAME);
    expect(mmu.translate(V, Access.Write, true)).toBe(FRAME);
    expect(mmu.translate(V, Access.Execute, true)).toBe(FRAME);
  });
});

describe("reserved bits (SDM 4.5): P = 1 and RSVD = 1", () => {
  for (const level of LEVELS) {
    test(`an address bit above MAXPHYADDR in the ${NAME[level]} is reserved`, () => {
      const { mmu, set, lo } = rig({ maxPhy: 40 });
      set(AT[level], lo(AT[level]), 1 << 8); // bit 40
      const f = fault(mmu, V, Access.Read, true);
      expect(f.errorCode).toBe(PF_P | PF_RSVD | PF_US);
      expect(f.reason).toContain("MAXPHYADDR");
    });

    test(`XD in the ${NAME[level]} is reserved while EFER.NXE = 0`, () => {
      const { mmu, set, lo } = rig({ efer: EFER_LME });
      set(AT[level], lo(AT[level]), PTE_HI_XD);
      expect(fault(mmu, V, Access.Write, false).errorCode).toBe(PF_P | PF_RSVD | PF_WR);
    });
  }

  test("PS in a PML4E is reserved", () => {
    const { mmu, set, lo } = rig();
    set(AT[4], lo(AT[4]) | PTE_PS);
    expect(fault(mmu, V, Access.Read, false)).toMatchObject({
      errorCode: PF_P | PF_RSVD,
      reason: "PML4E sets PS (reserved)",
    });
  });

  test("bits 20:13 of a 2 MiB PDE and bits 29:13 of a 1 GiB PDPTE are reserved; bit 12 (PAT) is not", () => {
    const { mmu, set } = rig();
    set(AT[2], 0x20_0000 | URW | PTE_PS | 0x2000);
    expect(fault(mmu, V, Access.Read, false).errorCode).toBe(PF_P | PF_RSVD);
    set(AT[2], 0x20_0000 | URW | PTE_PS | 0x1000);
    expect(mmu.translate(V, Access.Read, false)).toBe(0x20_0000);
    set(AT[3], 0x4000_0000 | URW | PTE_PS | 0x10_0000);
    mmu.flushAll(true);
    expect(fault(mmu, V, Access.Read, false).errorCode).toBe(PF_P | PF_RSVD);
  });

  test("with MAXPHYADDR = 52 no address bit is reserved", () => {
    const { mmu, set } = rig({ maxPhy: 52 });
    set(AT[1], FRAME | URW, 0x000f_0000);
    expect(mmu.translate(V, Access.Read, false)).toBe(FRAME + 0x000f_0000 * 2 ** 32);
  });
});

describe("page sizes", () => {
  test("a 2 MiB page maps the whole 2 MiB region at its base", () => {
    const { mmu, set } = rig();
    set(AT[2], 0x60_0000 | URW | PTE_PS);
    expect(mmu.translate(V + 0x1f_fffc, Access.Read, false)).toBe(0x60_0000 + 0x1f_fffc);
    expect(mmu.lastTranslation.pageSize).toBe(0x20_0000);
  });

  test("a 1 GiB page maps the whole GiB; the PDPTE is the leaf", () => {
    const { mmu, set } = rig({ maxPhy: 46 });
    set(AT[3], 0x4000_0000 | URW | PTE_PS, 0x3);
    const phys = 3 * 2 ** 32 + 0x4000_0000 + V + 0x1234;
    expect(mmu.translate(V + 0x1234, Access.Write, true)).toBe(phys);
    expect(mmu.lastTranslation.pageSize).toBe(0x4000_0000);
  });

  test("the top of the higher half walks PML4[511], PDPT[511], PD[511], PT[511]", () => {
    const { mmu, set } = rig();
    set(PML4 + 511 * 8, PDPT | URW);
    set(PDPT + 511 * 8, PD | URW);
    set(PD + 511 * 8, PT | URW);
    set(PT + 511 * 8, 0x7000 | URW);
    expect(mmu.translateCanonical(0xffff_ffff_ffff_f00an, Access.Read, false)).toBe(0x700a);
  });
});

describe("Accessed and Dirty (SDM 4.8)", () => {
  test("a read sets A in every entry walked and leaves D clear", () => {
    const { mmu, lo } = rig();
    mmu.translate(V, Access.Read, false);
    for (const level of LEVELS) expect(lo(AT[level]) & PTE_A).toBe(PTE_A);
    expect(lo(AT[1]) & PTE_D).toBe(0);
  });

  test("a write sets D in the leaf only (PTE, or the PDE of a 2 MiB page)", () => {
    const { mmu, lo, set } = rig();
    mmu.translate(V, Access.Write, false);
    expect(lo(AT[1]) & PTE_D).toBe(PTE_D);
    expect(lo(AT[2]) & PTE_D).toBe(0);
    set(AT[2], 0x60_0000 | URW | PTE_PS);
    mmu.flushAll(true);
    mmu.translate(V, Access.Write, false);
    expect(lo(AT[2]) & (PTE_A | PTE_D)).toBe(PTE_A | PTE_D);
  });

  test("a faulting access sets neither A nor D", () => {
    const { mmu, lo, set } = rig();
    set(AT[1], FRAME | PTE_P | PTE_US);
    fault(mmu, V, Access.Write, true);
    for (const level of LEVELS) expect(lo(AT[level]) & (PTE_A | PTE_D)).toBe(0);
  });

  test("a write through a TLB entry cached by a read still sets D (the CPU re-walks a clean entry)", () => {
    const { mmu, lo } = rig();
    mmu.translate(V, Access.Read, false);
    expect(lo(AT[1]) & PTE_D).toBe(0);
    mmu.translate(V, Access.Write, false);
    expect(lo(AT[1]) & PTE_D).toBe(PTE_D);
  });
});

describe("memory types from PAT, PCD and PWT", () => {
  const cases: [number, number][] = [
    [0, MemoryType.WB],
    [PTE_PWT, MemoryType.WT],
    [PTE_PCD, MemoryType.UC], // UC- in the PAT; effective UC with MTRRs all WB
    [PTE_PCD | PTE_PWT, MemoryType.UC],
    [0x80, MemoryType.WC],
    [0x80 | PTE_PWT, MemoryType.WP],
    [0x80 | PTE_PCD, MemoryType.UC],
    [0x80 | PTE_PCD | PTE_PWT, MemoryType.UC],
  ];
  for (const [bits, type] of cases) {
    test(`PTE bits 0x${bits.toString(16)} give the effective type ${type} under ksim's PAT`, () => {
      const { mmu, set } = rig();
      set(AT[1], FRAME | URW | bits);
      mmu.translate(V, Access.Read, false);
      expect(mmu.lastTranslation.memoryType).toBe(type);
    });
  }

  test("for 2 MiB pages the PAT bit is bit 12, and bit 7 is PS", () => {
    const { mmu, set } = rig();
    set(AT[2], 0x60_0000 | URW | PTE_PS | 0x1000);
    mmu.translate(V, Access.Read, false);
    expect(mmu.lastTranslation.memoryType).toBe(MemoryType.WC);
  });

  test("reprogramming IA32_PAT changes the types and flushes cached ones; reserved encodings are refused", () => {
    const { mmu, set } = rig();
    set(AT[1], FRAME | URW | 0x80);
    mmu.translate(V, Access.Read, false);
    expect(mmu.lastTranslation.memoryType).toBe(MemoryType.WC);
    mmu.writePat(packPat(POWER_ON_PAT));
    mmu.translate(V, Access.Read, false);
    expect(mmu.lastTranslation.memoryType).toBe(MemoryType.WB);
    expect(() => mmu.writePat(0x02n)).toThrow(/reserved memory type/);
    expect(mmu.pat).toBe(packPat(POWER_ON_PAT));
  });
});

describe("non-canonical addresses raise #GP", () => {
  test("a bigint whose bits 63..47 differ is a #GP, not a #PF", () => {
    const { mmu } = rig();
    expect(mmu.translateCanonical(0x0000_8000_0000_0000n, Access.Read, false)).toBe(-1);
    expect(mmu.lastFaultVector).toBe(13);
    expect(mmu.translateCanonical(0xffff_7fff_ffff_f000n, Access.Read, false)).toBe(-1);
    expect(mmu.lastFaultVector).toBe(13);
    expect(mmu.faultError()).toBeInstanceOf(GeneralProtectionFault);
  });

  test("a number outside [0, 2^48) or not an integer is a #GP", () => {
    const { mmu } = rig();
    for (const bad of [2 ** 48, -4096, Number.NaN, 0.5]) {
      expect(mmu.translate(bad, Access.Read, false)).toBe(-1);
      expect(mmu.lastFaultVector).toBe(13);
    }
    expect(() => mmu.translateOrThrow(2 ** 48, Access.Read, false)).toThrow(GeneralProtectionFault);
  });
});

describe("the TLB", () => {
  test("a PTE changed without invlpg leaves a stale translation in use; invlpg drops it", () => {
    const { mmu, set } = rig();
    expect(mmu.translate(V, Access.Read, false)).toBe(FRAME);
    set(AT[1], 0x20_0000 | URW);
    expect(mmu.translate(V, Access.Read, false)).toBe(FRAME); // stale, as on hardware
    expect(mmu.tlbDump()).toContain("0000000000400000: 0000000000100000");
    mmu.invalidate(V + 0x800);
    expect(mmu.translate(V, Access.Read, false)).toBe(0x20_0000);
  });

  test("an unmapped page stays reachable through a stale entry until invlpg", () => {
    const { mmu, set } = rig();
    mmu.translate(V, Access.Write, false);
    set(AT[1], 0);
    expect(mmu.translate(V, Access.Write, false)).toBe(FRAME);
    mmu.invalidate(V);
    expect(mmu.translate(V, Access.Write, false)).toBe(-1);
  });

  test("a CR3 reload drops non-global entries but keeps global ones while CR4.PGE is on", () => {
    const { mmu, set } = rig();
    set(AT[1], FRAME | URW | PTE_G);
    set(AT[1] + 8, (FRAME + 0x1000) | URW);
    mmu.translate(V, Access.Read, false);
    mmu.translate(V + 0x1000, Access.Read, false);
    set(AT[1], 0x30_0000 | URW | PTE_G);
    set(AT[1] + 8, 0x31_0000 | URW);
    mmu.writeCr3(PML4);
    expect(mmu.translate(V, Access.Read, false)).toBe(FRAME); // global: survives
    expect(mmu.translate(V + 0x1000, Access.Read, false)).toBe(0x31_0000);
    expect(mmu.lastTranslation.global).toBe(false);
  });

  test("toggling CR4.PGE drops global entries too; with PGE off G is ignored", () => {
    const { mmu, set } = rig();
    set(AT[1], FRAME | URW | PTE_G);
    mmu.translate(V, Access.Read, false);
    expect(mmu.lastTranslation.global).toBe(true);
    set(AT[1], 0x30_0000 | URW | PTE_G);
    mmu.writeCr4(CR4_PAE);
    expect(mmu.translate(V, Access.Read, false)).toBe(0x30_0000);
    expect(mmu.lastTranslation.global).toBe(false);
    set(AT[1], 0x31_0000 | URW | PTE_G);
    mmu.writeCr3(PML4);
    expect(mmu.translate(V, Access.Read, false)).toBe(0x31_0000);
  });

  test("invlpg of any address inside a 2 MiB page drops the whole large translation", () => {
    const { mmu, set } = rig();
    set(AT[2], 0x60_0000 | URW | PTE_PS);
    mmu.translate(V, Access.Read, false);
    set(AT[2], 0xa0_0000 | URW | PTE_PS);
    expect(mmu.translate(V + 0x1000, Access.Read, false)).toBe(0x60_1000);
    mmu.invalidate(V + 0x1f_f000);
    expect(mmu.translate(V + 0x1000, Access.Read, false)).toBe(0xa0_1000);
  });

  test("hits and misses are counted", () => {
    const { mmu } = rig();
    mmu.resetTlbStats();
    mmu.translate(V, Access.Read, false);
    mmu.translate(V + 4, Access.Read, false);
    expect(mmu.tlbStats).toEqual({ hits: 1, misses: 1, flushes: 0 });
  });
});

describe("explain", () => {
  test("decodes every level and changes nothing (no A bits, no TLB fill)", () => {
    const { mmu, lo } = rig();
    const e = mmu.explain(V + 0x10, Access.Write, true);
    expect(e.steps.map((s) => s.name)).toEqual(["PML4E", "PDPTE", "PDE", "PTE"]);
    expect(e.steps[2]).toMatchObject({ index: 2, entryAddress: PD + 16, address: PT, present: true, user: true });
    expect(e.result).toEqual({
      ok: true,
      physical: FRAME + 0x10,
      memoryType: MemoryType.WB,
      patType: MemoryType.WB,
      pageSize: 0x1000,
    });
    for (const level of LEVELS) expect(lo(AT[level]) & PTE_A).toBe(0);
    expect(mmu.tlb.entries()).toHaveLength(0);
    expect(mmu.explainText(V + 0x10, Access.Write, true)).toContain("=> physical 0x100010 (WB, 4 KiB page)");
  });

  test("says why a walk faults, with the error code bits named", () => {
    const { mmu, set } = rig({ cr4: CR4_PAE | CR4_SMEP });
    set(AT[3], PD | URW, 1 << 12);
    const text = mmu.explainText(V, Access.Execute, false);
    expect(text).toContain("RESERVED: address bits above MAXPHYADDR");
    expect(text).toContain("#PF error code 0x19");
    expect(text).toContain("I/D (instruction fetch)");
  });
});

describe("the fast walk agrees with the careful walk", () => {
  // Random entries on the path (any bits at all) and random control state: walk() and explain() must agree on
  // the physical address or on the exact error code.
  // Mostly present entries without PS, so that most walks get to the permission checks.
  const entry = fc.record({
    flags: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: 0x1ff }).map((f) => (f | PTE_P) & ~PTE_PS) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x1ff }) },
    ),
    pat12: fc.boolean(),
    high: fc.oneof(
      { weight: 4, arbitrary: fc.constant(0) },
      { weight: 2, arbitrary: fc.constant(0x8000_0000) },
      { weight: 1, arbitrary: fc.constantFrom(1 << 10, 1 << 20, 0x8000_0100) },
    ),
    rsvd2m: fc.boolean(),
  });
  test("on random tables, control registers and accesses", () => {
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 2 }),
        fc.boolean(),
        fc.record({ wp: fc.boolean(), smep: fc.boolean(), smap: fc.boolean(), nxe: fc.boolean(), ac: fc.boolean() }),
        (entries, access, user, c) => {
          const { mmu, set } = rig({
            efer: EFER_LME | (c.nxe ? EFER_NXE : 0),
            cr4: CR4_PAE | CR4_PGE | (c.smep ? CR4_SMEP : 0) | (c.smap ? CR4_SMAP : 0),
            cr0: (CR0_PE | CR0_PG | (c.wp ? CR0_WP : 0)) >>> 0,
          });
          mmu.setAlignmentCheck(c.ac);
          const targets = [PDPT, PD, PT, FRAME];
          LEVELS.forEach((level, i) => {
            const e = entries[i]!;
            set(AT[level], targets[i]! | e.flags | (e.pat12 ? 0x1000 : 0) | (e.rsvd2m ? 0x4000 : 0), e.high);
          });
          const explained = mmu.explain(V + 0x88, access as AccessKind, user);
          const walked = mmu.walk(V + 0x88, access as AccessKind, user);
          if (explained.result.ok) {
            expect(walked).toBe(explained.result.physical);
          } else {
            expect(walked).toBe(-1);
            expect(mmu.lastFault.errorCode).toBe(explained.result.errorCode);
            expect(mmu.lastFault.reason).toBe(explained.result.reason);
          }
        },
      ),
      { numRuns: 600 },
    );
  });
});

describe("the PDE cache (a paging-structure cache, SDM 4.10.3)", () => {
  test("a TLB miss in a 2 MiB region walked before reads only the PTE, and agrees with a full walk", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xfff }),
        fc.constantFrom(0, 0x8000_0000, 1 << 10),
        fc.integer({ min: 0, max: 2 }),
        fc.boolean(),
        fc.record({
          wp: fc.boolean(),
          smep: fc.boolean(),
          smap: fc.boolean(),
          upperRo: fc.boolean(),
          upperXd: fc.boolean(),
        }),
        (flags, high, access, user, c) => {
          const { mmu, set, lo } = rig({
            cr4: CR4_PAE | CR4_PGE | (c.smep ? CR4_SMEP : 0) | (c.smap ? CR4_SMAP : 0),
            cr0: (CR0_PE | CR0_PG | (c.wp ? CR0_WP : 0)) >>> 0,
          });
          set(AT[2], lo(AT[2]) & ~(c.upperRo ? PTE_RW : 0), c.upperXd ? PTE_HI_XD : 0);
          set(AT[1] + 8, (FRAME + 0x1000) | URW);
          expect(mmu.walk(V + 0x1000, Access.Read, true)).toBe(FRAME + 0x1000); // fills the PDE cache
          set(AT[1], FRAME | flags, high);
          const explained = mmu.explain(V + 0x10, access as AccessKind, user);
          const walked = mmu.walk(V + 0x10, access as AccessKind, user);
          if (explained.result.ok) {
            expect(walked).toBe(explained.result.physical);
          } else {
            expect(walked).toBe(-1);
            expect(mmu.lastFault.errorCode).toBe(explained.result.errorCode);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test("a PDE changed without invlpg is still used through the cache; invlpg of any address drops it", () => {
    const { mmu, set } = rig();
    set(AT[1] + 8, (FRAME + 0x1000) | URW);
    set(AT[1] + 16, (FRAME + 0x2000) | URW);
    mmu.translate(V, Access.Read, false);
    set(0x5008, 0x71_0000 | URW); // a second page table
    set(0x5010, 0x72_0000 | URW);
    set(AT[2], 0x5000 | URW);
    expect(mmu.translate(V + 0x1000, Access.Read, false)).toBe(FRAME + 0x1000); // stale PDE from the cache
    mmu.invalidate(0x7000_0000); // invlpg flushes every paging-structure-cache entry
    expect(mmu.translate(V + 0x2000, Access.Read, false)).toBe(0x72_0000);
    expect(mmu.translate(V + 0x1000, Access.Read, false)).toBe(FRAME + 0x1000); // its TLB entry was not touched
  });

  test("without the PDE cache every TLB miss reads all four levels", () => {
    const { mmu, set } = rig({ pdeCache: false });
    set(AT[1] + 16, (FRAME + 0x2000) | URW);
    mmu.translate(V, Access.Read, false);
    set(0x5010, 0x72_0000 | URW);
    set(AT[2], 0x5000 | URW);
    expect(mmu.translate(V + 0x2000, Access.Read, false)).toBe(0x72_0000);
  });
});

describe("control registers", () => {
  test("clearing CR0.PG or CR4.PAE in long mode is a #GP and changes nothing", () => {
    const { mmu } = rig();
    expect(() => mmu.writeCr0(CR0_PE)).toThrow(GeneralProtectionFault);
    expect(() => mmu.writeCr4(CR4_PGE)).toThrow(GeneralProtectionFault);
    expect(mmu.pagingEnabled).toBe(true);
    expect(mmu.translate(V, Access.Read, false)).toBe(FRAME);
  });

  test("CR3 with bits above MAXPHYADDR is a #GP; CR3.PCD/PWT select the PML4's memory type", () => {
    const { mmu } = rig({ maxPhy: 40 });
    expect(() => mmu.writeCr3(2 ** 40)).toThrow(GeneralProtectionFault);
    mmu.writeCr3(PML4 | 0x18);
    expect(mmu.pml4Base).toBe(PML4);
    expect(mmu.pml4MemoryType).toBe(MemoryType.UC);
    expect(mmu.translate(V, Access.Read, false)).toBe(FRAME);
  });

  test("before CR0.PG is set, linear addresses are physical", () => {
    const memory = new FlatMemory(1 << 20);
    const mmu = new X86Mmu({ memory });
    expect(mmu.translate(0x1234, Access.Write, true)).toBe(0x1234);
  });
});
