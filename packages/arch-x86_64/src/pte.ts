// The x86-64 paging-structure entry format (Intel SDM Vol. 3A, 4.5, tables 4-15 to 4-20), as two 32-bit halves.
// `lo` holds bits 31..0 and `hi` bits 63..32, so no BigInt is needed on hot paths.

/** Bit 0, P: the entry is present. */
export const PTE_P = 0x001;
/** Bit 1, R/W: writes allowed. */
export const PTE_RW = 0x002;
/** Bit 2, U/S: user-mode accesses allowed. */
export const PTE_US = 0x004;
/** Bit 3, PWT: page-level write-through (PAT index bit 0). */
export const PTE_PWT = 0x008;
/** Bit 4, PCD: page-level cache disable (PAT index bit 1). */
export const PTE_PCD = 0x010;
/** Bit 5, A: accessed. */
export const PTE_A = 0x020;
/** Bit 6, D: dirty (leaf entries only). */
export const PTE_D = 0x040;
/** Bit 7: PS in a PDPTE/PDE (maps a 1 GiB / 2 MiB page); PAT index bit 2 in a PTE; reserved in a PML4E. */
export const PTE_PS = 0x080;
/** Bit 7 of a PTE: PAT index bit 2. */
export const PTE_PAT_4K = 0x080;
/** Bit 8, G: global translation (leaf entries, with CR4.PGE). */
export const PTE_G = 0x100;
/**
 * Bit 9 (ignored by the CPU, free for software): ksim's "owned" mark. The frame was allocated for this entry by
 * mem_allocatePage or mem_clone, so the address space holds one reference to it and frees it when destroyed.
 */
export const PTE_OWNED = 0x200;
/** Bit 12 of a 1 GiB / 2 MiB leaf: PAT index bit 2. */
export const PTE_PAT_LARGE = 0x1000;
/** Bits 31..12 of `lo`: low part of the frame address. */
export const PTE_ADDR_LO = 0xffff_f000;
/** Bits 51..32 (bits 19..0 of `hi`): high part of the frame address. */
export const PTE_ADDR_HI = 0x000f_ffff;
/** Bit 52 (bit 20 of `hi`): the seed's software copy-on-write flag. */
export const PTE_HI_COW = 0x0010_0000;
/** Bit 63 (bit 31 of `hi`): XD, execute disable (with EFER.NXE). */
export const PTE_HI_XD = 0x8000_0000;

/** Bits 29..13 of a 1 GiB leaf (PDPTE with PS) are reserved. */
export const RSVD_1G_LO = 0x3fff_e000;
/** Bits 20..13 of a 2 MiB leaf (PDE with PS) are reserved. */
export const RSVD_2M_LO = 0x001f_e000;

const TWO_32 = 0x1_0000_0000;

/** The frame address held by an entry, from its halves (bits 51..12). */
export function entryAddress(lo: number, hi: number): number {
  return ((lo & PTE_ADDR_LO) >>> 0) + (hi & PTE_ADDR_HI) * TWO_32;
}

/** The `lo` address bits of a physical address (bits 31..12). */
export function addressLo(phys: number): number {
  return (phys % TWO_32) & PTE_ADDR_LO;
}

/** The `hi` address bits of a physical address (bits 51..32). */
export function addressHi(phys: number): number {
  return Math.floor(phys / TWO_32) & PTE_ADDR_HI;
}

/**
 * The bits of `hi` that are reserved because they lie at or above MAXPHYADDR (SDM 4.5: "Reserved (must be 0)" for
 * bits 51:M). With M = 52 none are.
 */
export function reservedHiMask(maxPhyAddr: number): number {
  if (maxPhyAddr >= 52) return 0;
  return PTE_ADDR_HI & ~((1 << (maxPhyAddr - 32)) - 1);
}

/** Formats an entry as 16 hex digits. */
export function formatEntry(lo: number, hi: number): string {
  const digits = (hi >>> 0).toString(16).padStart(8, "0") + (lo >>> 0).toString(16).padStart(8, "0");
  return `0x${digits.toUpperCase()}`;
}
