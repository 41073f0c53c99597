/** One level of a page walk, decoded (what {@link X86Mmu.explain} reports). */
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
