import { accessName, formatCanonical48, linear48ToCanonical, type MemoryTypeValue, memoryTypeName } from "@ksim/core";
import { PF_ID, PF_P, PF_RSVD, PF_US, PF_WR } from "./control.js";
import type { X86Mmu } from "./mmu.js";
import { ENTRY_SPAN } from "./page-tables.js";
import { patIndex } from "./pat.js";
import {
  entryAddress,
  formatEntry,
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
} from "./pte.js";
import type { WalkExplanation } from "./walk-step.js";

/** One leaf mapping found in the page tables, with permissions combined across levels. */
export interface Mapping {
  readonly linear: number;
  readonly physical: number;
  readonly size: number;
  readonly writable: boolean;
  readonly user: boolean;
  readonly executable: boolean;
  readonly global: boolean;
  readonly accessed: boolean;
  readonly dirty: boolean;
  readonly cacheDisable: boolean;
  readonly writeThrough: boolean;
  readonly memoryType: MemoryTypeValue;
}

/** A run of contiguous linear addresses with the same permissions and memory type (`info mem`). */
export interface MappingRange {
  readonly start: number;
  readonly end: number;
  readonly writable: boolean;
  readonly user: boolean;
  readonly executable: boolean;
  readonly memoryType: MemoryTypeValue;
}

/**
 * Every present leaf under `pml4` (default: the current CR3), in address order, read without side effects.
 * Entries with reserved bits set are skipped, as the walk would fault on them.
 */
export function collectMappings(mmu: X86Mmu, pml4: number = mmu.pml4Base): Mapping[] {
  const out: Mapping[] = [];
  const mem = mmu.memory;
  const nxe = (mmu.efer & 0x800) !== 0;
  const visit = (table: number, level: number, base: number, w: boolean, u: boolean, x: boolean): void => {
    for (let i = 0; i < 512; i++) {
      const lo = mem.read32(table + i * 8);
      if (!(lo & PTE_P)) continue;
      const hi = mem.read32(table + i * 8 + 4);
      const linear = base + i * ENTRY_SPAN[level]!;
      const ww = w && (lo & PTE_RW) !== 0;
      const uu = u && (lo & PTE_US) !== 0;
      const xx = x && !(nxe && hi & PTE_HI_XD);
      const leaf = level === 1 || (level < 4 && (lo & PTE_PS) !== 0);
      if (!leaf) {
        visit(entryAddress(lo, hi), level - 1, linear, ww, uu, xx);
        continue;
      }
      const large = level > 1;
      const frameLo = !large ? lo : level === 2 ? lo & 0xffe0_0000 : lo & 0xc000_0000;
      out.push({
        linear,
        physical: entryAddress(frameLo, hi),
        size: ENTRY_SPAN[level]!,
        writable: ww,
        user: uu,
        executable: xx,
        global: (lo & PTE_G) !== 0,
        accessed: (lo & PTE_A) !== 0,
        dirty: (lo & PTE_D) !== 0,
        cacheDisable: (lo & PTE_PCD) !== 0,
        writeThrough: (lo & PTE_PWT) !== 0,
        memoryType: mmu.patEntry(patIndex(lo, large)),
      });
    }
  };
  visit(pml4, 4, 0, true, true, true);
  return out;
}

/** Merges contiguous mappings with equal permissions and memory type. */
export function mergeMappings(mappings: readonly Mapping[]): MappingRange[] {
  const out: MappingRange[] = [];
  let current: { -readonly [K in keyof MappingRange]: MappingRange[K] } | undefined;
  for (const m of mappings) {
    if (
      current &&
      current.end === m.linear &&
      current.writable === m.writable &&
      current.user === m.user &&
      current.executable === m.executable &&
      current.memoryType === m.memoryType
    ) {
      current.end = m.linear + m.size;
      continue;
    }
    if (current) out.push(current);
    current = {
      start: m.linear,
      end: m.linear + m.size,
      writable: m.writable,
      user: m.user,
      executable: m.executable,
      memoryType: m.memoryType,
    };
  }
  if (current) out.push(current);
  return out;
}

/** "4 KiB", "2 MiB" or "1 GiB". */
export function pageSizeName(size: number): string {
  return size === 0x1000 ? "4 KiB" : size === 0x20_0000 ? "2 MiB" : "1 GiB";
}

const hex16 = (value: number | bigint): string => value.toString(16).padStart(16, "0");

/** The canonical 64-bit form of a linear address, lower-case without prefix, as QEMU prints it. */
function canonical(linear: number): string {
  return hex16(linear48ToCanonical(linear));
}

/**
 * `info mem`, QEMU style: one line per merged range, `start-end size prot type` with canonical 64-bit addresses;
 * prot is `u`/`-`, `r`, `w`/`-`, `x`/`-`.
 */
export function formatInfoMem(mmu: X86Mmu, pml4?: number): string {
  return mergeMappings(collectMappings(mmu, pml4))
    .map(
      (r) =>
        `${canonical(r.start)}-${canonical(r.end)} ${hex16(r.end - r.start)} ` +
        `${r.user ? "u" : "-"}r${r.writable ? "w" : "-"}${r.executable ? "x" : "-"} ${memoryTypeName(r.memoryType)}`,
    )
    .join("\n");
}

/**
 * `info tlb`, QEMU style: one line per leaf mapping, `linear: physical flags`, flags being X (no-execute), G, P
 * (PS/large), D, A, C (PCD), T (PWT), U, W, then the memory type.
 */
export function formatInfoTlb(mmu: X86Mmu, pml4?: number): string {
  return collectMappings(mmu, pml4)
    .map((m) => {
      const flags =
        (m.executable ? "-" : "X") +
        (m.global ? "G" : "-") +
        (m.size > 0x1000 ? "P" : "-") +
        (m.dirty ? "D" : "-") +
        (m.accessed ? "A" : "-") +
        (m.cacheDisable ? "C" : "-") +
        (m.writeThrough ? "T" : "-") +
        (m.user ? "U" : "-") +
        (m.writable ? "W" : "-");
      return `${canonical(m.linear)}: ${hex16(m.physical)} ${flags} ${memoryTypeName(m.memoryType)}`;
    })
    .join("\n");
}

/** The TLB's cached translations (what the CPU would use now, stale ones included), one per line. */
export function formatTlbCache(mmu: X86Mmu): string {
  return mmu.tlb
    .entries()
    .map(
      (e) =>
        `${canonical(e.linear)}: ${hex16(e.physical)} ${e.pageSize === 0x1000 ? "4K" : e.pageSize === 0x20_0000 ? "2M" : "1G"} ` +
        `${e.user ? "u" : "-"}r${e.writable ? "w" : "-"}${e.executable ? "x" : "-"}${e.dirty ? "d" : "-"}${e.global ? "g" : "-"} ` +
        memoryTypeName(e.memoryType as MemoryTypeValue),
    )
    .join("\n");
}

/** Names the bits of a page-fault error code: `P W U RSVD I/D`. */
export function describeErrorCode(code: number): string {
  const parts = [
    code & PF_P ? "P (protection)" : "not present",
    code & PF_WR ? "W (write)" : "R (read)",
    code & PF_US ? "U (user)" : "S (supervisor)",
  ];
  if (code & PF_RSVD) parts.push("RSVD");
  if (code & PF_ID) parts.push("I/D (instruction fetch)");
  return parts.join(", ");
}

/** A readable walk: one line per level with the entry decoded, then the result or the fault and why. */
export function formatWalk(explanation: WalkExplanation): string {
  const e = explanation;
  const lines = [`${e.user ? "user" : "supervisor"} ${accessName(e.access)} at ${formatCanonical48(e.linear)}`];
  for (const s of e.steps) {
    const raw = formatEntry(s.lo, s.hi);
    const flags = [
      s.present ? "P" : "not-present",
      s.writable ? "RW" : "RO",
      s.user ? "U" : "S",
      s.writeThrough ? "PWT" : "",
      s.cacheDisable ? "PCD" : "",
      s.accessed ? "A" : "",
      s.dirty ? "D" : "",
      s.global ? "G" : "",
      s.pageSize && s.pageSize > 0x1000 ? `PS(${s.pageSize === 0x20_0000 ? "2M" : "1G"})` : "",
      s.executeDisable ? "XD" : "",
    ]
      .filter(Boolean)
      .join(" ");
    const target = s.pageSize ? `frame 0x${s.address.toString(16)}` : `table 0x${s.address.toString(16)}`;
    const reserved = s.reserved.length ? ` RESERVED: ${s.reserved.join("; ")}` : "";
    lines.push(
      `  ${s.name.padEnd(5)}[${String(s.index).padStart(3)}] @0x${s.entryAddress.toString(16)} = ${raw}  ${flags}` +
        (s.present ? ` -> ${target}` : "") +
        reserved,
    );
  }
  if (e.result.ok) {
    lines.push(
      `  => physical 0x${e.result.physical.toString(16)} (${memoryTypeName(e.result.memoryType)}` +
        (e.result.patType !== e.result.memoryType ? ` from PAT ${memoryTypeName(e.result.patType)}` : "") +
        ", " +
        `${pageSizeName(e.result.pageSize)} page)`,
    );
  } else if (e.result.vector === 13) {
    lines.push(`  => #GP: ${e.result.reason}`);
  } else {
    lines.push(
      `  => #PF error code 0x${e.result.errorCode.toString(16)} [${describeErrorCode(e.result.errorCode)}]: ${e.result.reason}`,
    );
  }
  return lines.join("\n");
}
