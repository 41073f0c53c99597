// Control-register and MSR bits the MMU honours (Intel SDM Vol. 3A, 2.5 and 4.1).

/** CR0.WP (bit 16): supervisor writes honour R/W. */
export const CR0_WP = 1 << 16;
/** CR0.PG (bit 31): paging on. */
export const CR0_PG = 0x8000_0000;
/** CR0.PE (bit 0): protected mode. */
export const CR0_PE = 1;

/** CR3.PWT (bit 3): with PCD, the memory type used to read the PML4. */
export const CR3_PWT = 0x08;
/** CR3.PCD (bit 4). */
export const CR3_PCD = 0x10;

/** CR4.PAE (bit 5): required for 4-level paging. */
export const CR4_PAE = 1 << 5;
/** CR4.PGE (bit 7): global pages. */
export const CR4_PGE = 1 << 7;
/** CR4.SMEP (bit 20): supervisor-mode execution prevention. */
export const CR4_SMEP = 1 << 20;
/** CR4.SMAP (bit 21): supervisor-mode access prevention. */
export const CR4_SMAP = 1 << 21;

/** IA32_EFER.LME (bit 8): long mode enable. */
export const EFER_LME = 1 << 8;
/** IA32_EFER.LMA (bit 10): long mode active (read-only). */
export const EFER_LMA = 1 << 10;
/** IA32_EFER.NXE (bit 11): XD honoured. */
export const EFER_NXE = 1 << 11;

/** Page-fault error code (SDM 4.7) P: 1 for a protection violation, 0 for a non-present page. */
export const PF_P = 0x01;
/** W/R: the access was a write. */
export const PF_WR = 0x02;
/** U/S: the access was a user-mode one. */
export const PF_US = 0x04;
/** RSVD: a reserved bit was set in a paging-structure entry. */
export const PF_RSVD = 0x08;
/** I/D: the access was an instruction fetch (reported with NXE or SMEP). */
export const PF_ID = 0x10;

/** Exception vector of a general-protection fault. */
export const VECTOR_GP = 13;
/** Exception vector of a page fault. */
export const VECTOR_PF = 14;
