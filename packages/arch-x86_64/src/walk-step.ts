import type { AccessKind, MemoryTypeValue } from "@ksim/core";
import { patIndex } from "./pat.js";
import {
  entryAddress,
  PTE_A,
  PTE_D,
  PTE_G,
  PTE_HI_XD,
  PTE_P,
  PTE_PCD,
  PTE_PS,
  PTE_PWT,
  PTE_RW,
  PTE_US,
  RSVD_1G_LO,
  RSVD_2M_LO,
} from "./pte.js";

/** One level of a page walk, decoded (what `X86Mmu.explain` reports). */
export interface WalkStep {
  /** 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT. */
  readonly level: 1 | 2 | 3 | 4;
  readonly name: "PML4E" | "PDPTE" | "PDE" | "PTE";
  /** Index of the entry in its table (0-511). */
  readonly index: number;
  /** Physical address of the table. */
  readonly tableAddress: number;
  /** Physical address of the entry. */
  readonly entryAddress: number;
  /** Bits 31..0 and 63..32 of the entry. */
  readonly lo: number;
  readonly hi: number;
  readonly present: boolean;
  readonly writable: boolean;
  readonly user: boolean;
  readonly writeThrough: boolean;
  readonly cacheDisable: boolean;
  readonly accessed: boolean;
  /** Leaf entries only. */
  readonly dirty: boolean | undefined;
  /** Leaf entries only. */
  readonly global: boolean | undefined;
  readonly executeDisable: boolean;
  /** Set when the entry maps a page: its size. */
  readonly pageSize: number | undefined;
  /** The next table's address, or the page frame for a leaf. */
  readonly address: number;
  /** PAT index (0-7) of a leaf. */
  readonly patIndex: number | undefined;
  /** Reserved bits the entry sets (each makes the walk fault with RSVD). */
  readonly reserved: readonly string[];
}

/** The result of `X86Mmu.explain`: every level walked, then the translation or the fault. */
export interface WalkExplanation {
  readonly linear: number;
  readonly access: AccessKind;
  readonly user: boolean;
  readonly steps: readonly WalkStep[];
  readonly result:
    | {
        readonly ok: true;
        readonly physical: number;
        /** The effective type (MTRRs are all WB, so UC- resolves to UC). */
        readonly memoryType: MemoryTypeValue;
        /** The type the PAT entry selected by PAT/PCD/PWT holds. */
        readonly patType: MemoryTypeValue;
        readonly pageSize: number;
      }
    | { readonly ok: false; readonly vector: number; readonly errorCode: number; readonly reason: string };
}

const NAMES = ["", "PTE", "PDE", "PDPTE", "PML4E"] as const;

/**
 * Decodes the entry (`lo`, `hi`) found at `address`, index `index` of the level-`level` table at `table`, naming the
 * reserved bits it sets given the reserved high-half mask (bits above MAXPHYADDR) and EFER.NXE.
 */
export function decodeStep(
  level: number,
  index: number,
  table: number,
  address: number,
  lo: number,
  hi: number,
  reservedHi: number,
  nxe: boolean,
): WalkStep {
  const large = (level === 2 || level === 3) && (lo & PTE_PS) !== 0;
  const leaf = level === 1 || large;
  const problems: string[] = [];
  if (hi & reservedHi) problems.push("address bits above MAXPHYADDR");
  if (hi & PTE_HI_XD && !nxe) problems.push("XD with EFER.NXE = 0");
  if (level === 4 && lo & PTE_PS) problems.push("PS in a PML4E");
  if (level === 3 && large && lo & RSVD_1G_LO) problems.push("bits 29:13 of a 1 GiB entry");
  if (level === 2 && large && lo & RSVD_2M_LO) problems.push("bits 20:13 of a 2 MiB entry");
  const frameLo = !large ? lo : level === 2 ? lo & 0xffe0_0000 : lo & 0xc000_0000;
  return {
    level: level as 1 | 2 | 3 | 4,
    name: NAMES[level] as WalkStep["name"],
    index,
    tableAddress: table,
    entryAddress: address,
    lo: lo >>> 0,
    hi: hi >>> 0,
    present: (lo & PTE_P) !== 0,
    writable: (lo & PTE_RW) !== 0,
    user: (lo & PTE_US) !== 0,
    writeThrough: (lo & PTE_PWT) !== 0,
    cacheDisable: (lo & PTE_PCD) !== 0,
    accessed: (lo & PTE_A) !== 0,
    dirty: leaf ? (lo & PTE_D) !== 0 : undefined,
    global: leaf ? (lo & PTE_G) !== 0 : undefined,
    executeDisable: (hi & PTE_HI_XD) !== 0,
    pageSize: leaf ? (level === 1 ? 0x1000 : level === 2 ? 0x20_0000 : 0x4000_0000) : undefined,
    address: entryAddress(frameLo, hi),
    patIndex: leaf ? patIndex(lo, large) : undefined,
    reserved: problems,
  };
}
