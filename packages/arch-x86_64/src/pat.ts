import { InvalidArgumentError, MemoryType, type MemoryTypeValue } from "@ksim/core";
import { PTE_PAT_4K, PTE_PAT_LARGE, PTE_PCD, PTE_PWT } from "./pte.js";

/**
 * The IA32_PAT value ksim programs at boot (MSR 0x277, one type per byte, PA0 in the low byte):
 *
 * | index | PAT PCD PWT | type | selected by                              |
 * |-------|-------------|------|------------------------------------------|
 * | 0     | 0 0 0       | WB   | default                                  |
 * | 1     | 0 0 1       | WT   | MEM_PAGE_WRITETHROUGH                    |
 * | 2     | 0 1 0       | UC-  | `memoryType: UC_MINUS` (power-on value)  |
 * | 3     | 0 1 1       | UC   | MEM_PAGE_NOT_CACHEABLE                   |
 * | 4     | 1 0 0       | WC   | MEM_PAGE_WRITE_COMBINE                   |
 * | 5     | 1 0 1       | WP   | `memoryType: WP`                         |
 * | 6     | 1 1 0       | UC-  | power-on value                           |
 * | 7     | 1 1 1       | UC   | power-on value                           |
 *
 * Entries 0-3 keep their power-on values, so code that only knows PCD/PWT still gets what it expects; entries 4
 * and 5 are reprogrammed (the original kernel put WC at 4 as well).
 */
export const KSIM_PAT = [
  MemoryType.WB,
  MemoryType.WT,
  MemoryType.UC_MINUS,
  MemoryType.UC,
  MemoryType.WC,
  MemoryType.WP,
  MemoryType.UC_MINUS,
  MemoryType.UC,
] as const;

/** The power-on IA32_PAT value (SDM 11.12.4): WB, WT, UC-, UC, WB, WT, UC-, UC. */
export const POWER_ON_PAT = [
  MemoryType.WB,
  MemoryType.WT,
  MemoryType.UC_MINUS,
  MemoryType.UC,
  MemoryType.WB,
  MemoryType.WT,
  MemoryType.UC_MINUS,
  MemoryType.UC,
] as const;

const VALID_TYPES = new Set<number>(Object.values(MemoryType));

/** Packs eight types into the 64-bit IA32_PAT value. */
export function packPat(types: readonly number[]): bigint {
  let value = 0n;
  for (let i = 7; i >= 0; i--) value = (value << 8n) | BigInt(types[i] ?? 0);
  return value;
}

/**
 * Unpacks an IA32_PAT value into eight memory types.
 * @throws InvalidArgumentError when a byte holds a reserved encoding (2, 3 or above 7): WRMSR would #GP.
 */
export function unpackPat(value: bigint): MemoryTypeValue[] {
  if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw new InvalidArgumentError("IA32_PAT", value, "not 64 bits");
  const types: MemoryTypeValue[] = [];
  for (let i = 0; i < 8; i++) {
    const type = Number((value >> BigInt(i * 8)) & 0xffn);
    if (!VALID_TYPES.has(type)) {
      throw new InvalidArgumentError("IA32_PAT", value, `PA${i} = ${type} is a reserved memory type (#GP)`);
    }
    types.push(type as MemoryTypeValue);
  }
  return types;
}

/** The PAT index (0-7) of a leaf entry's low half; `large` for 2 MiB / 1 GiB leaves (PAT is bit 12 there). */
export function patIndex(lo: number, large: boolean): number {
  const patBit = large ? lo & PTE_PAT_LARGE : lo & PTE_PAT_4K;
  return (patBit ? 4 : 0) | (lo & PTE_PCD ? 2 : 0) | (lo & PTE_PWT ? 1 : 0);
}

/** The low-half bits that select PAT entry `index` in a leaf entry. */
export function patBits(index: number, large: boolean): number {
  return (index & 4 ? (large ? PTE_PAT_LARGE : PTE_PAT_4K) : 0) | (index & 2 ? PTE_PCD : 0) | (index & 1 ? PTE_PWT : 0);
}
