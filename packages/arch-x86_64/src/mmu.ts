import {
  Access,
  type AccessKind,
  checkInteger,
  formatCanonical48,
  GeneralProtectionFault,
  InvalidArgumentError,
  isCanonical48,
  LINEAR_LIMIT_48,
  MemoryType,
  type MemoryTypeValue,
  type Mmu,
  PageFault,
  type PageFaultInfo,
  type PhysicalMemory,
  type TranslationInfo,
} from "@ksim/core";
import {
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CR3_PCD,
  CR3_PWT,
  CR4_PAE,
  CR4_PGE,
  CR4_SMAP,
  CR4_SMEP,
  EFER_LMA,
  EFER_LME,
  EFER_NXE,
  PF_ID,
  PF_P,
  PF_RSVD,
  PF_US,
  PF_WR,
  VECTOR_GP,
  VECTOR_PF,
} from "./control.js";
import { formatInfoMem, formatInfoTlb, formatTlbCache, formatWalk } from "./dump.js";
import { POWER_ON_PAT, packPat, patIndex, unpackPat } from "./pat.js";
import { accessRule, denialReason, type PagingControls } from "./permissions.js";
import {
  entryAddress,
  PTE_A,
  PTE_ADDR_HI,
  PTE_ADDR_LO,
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
  reservedHiMask,
} from "./pte.js";
import {
  INFO_SIZE_SHIFT,
  INFO_TYPE_SHIFT,
  PERM_D,
  PERM_G,
  PERM_U,
  PERM_W,
  PERM_X,
  SIZE_1G,
  SIZE_2M,
  SIZE_4K,
  STRIDE,
  Tlb,
  type TlbArray,
} from "./tlb.js";
import { decodeStep, type WalkExplanation, type WalkStep } from "./walk-step.js";

/**
 * The effective memory type of an access whose PAT type is `patType`. MTRRs are not modelled: every range is WB in
 * them, and SDM table 11-7 then gives the PAT type itself, except UC- (which an MTRR could have made WC) as UC.
 */
export function effectiveMemoryType(patType: MemoryTypeValue): MemoryTypeValue {
  return patType === MemoryType.UC_MINUS ? MemoryType.UC : patType;
}

/** Options of {@link X86Mmu}. */
export interface X86MmuOptions {
  /** The physical address space the page tables live in. */
  readonly memory: PhysicalMemory;
  /** MAXPHYADDR, 32..52. Default 46. */
  readonly physicalAddressBits?: number;
  /**
   * Slots of the 4 KiB TLB (a power of two). Default 65536: far more than real hardware (1.5-2 K), so that a
   * simulation keeps working sets of tens of MiB cached; use a small value to study TLB behaviour.
   */
  readonly tlbEntries?: number;
  /** Keep a PDE cache (a paging-structure cache, SDM 4.10.3) so a TLB miss can skip to the PTE. Default true. */
  readonly pdeCache?: boolean;
}

const PAGE = 0x1000;
const TWO_32 = 0x1_0000_0000;
const SIZE_BYTES = [0x1000, 0x20_0000, 0x4000_0000] as const;
const NOT_PRESENT = ["", "PTE not present", "PDE not present", "PDPTE not present", "PML4E not present"] as const;
const RESERVED_ABOVE_MAXPHY = [
  "",
  "PTE sets address bits above MAXPHYADDR (reserved)",
  "PDE sets address bits above MAXPHYADDR (reserved)",
  "PDPTE sets address bits above MAXPHYADDR (reserved)",
  "PML4E sets address bits above MAXPHYADDR (reserved)",
] as const;
const RESERVED_XD = [
  "",
  "PTE sets XD while EFER.NXE = 0 (reserved)",
  "PDE sets XD while EFER.NXE = 0 (reserved)",
  "PDPTE sets XD while EFER.NXE = 0 (reserved)",
  "PML4E sets XD while EFER.NXE = 0 (reserved)",
] as const;

/**
 * The x86-64 MMU with 4-level paging: control registers, the page walk of Intel SDM Vol. 3A chapter 4 over tables
 * in physical memory, Accessed/Dirty updates, permission checks (R/W, U/S, XD, CR0.WP, SMEP, SMAP), PAT memory
 * types and a TLB. It never edits mappings; the kernel side does, then calls {@link invalidate}.
 *
 * Linear addresses are 48-bit numbers (see `@ksim/core` address.ts); every such number is canonical. A value that
 * is not an integer in [0, 2^48), or a non-canonical 64-bit bigint given to {@link translateCanonical}, raises a
 * general-protection fault, as the CPU does for a non-canonical address.
 */
export class X86Mmu implements Mmu {
  declare readonly memory: PhysicalMemory;
  /** MAXPHYADDR. */
  declare readonly physicalAddressBits: number;
  declare readonly tlb: Tlb;
  /**
   * Bumped whenever cached translations may have changed (invlpg, flushes, control-register writes). Software
   * caches of translations (VirtualMemory's last-page cache) compare it before trusting themselves.
   */
  epoch = 0;

  private cr0Value = CR0_PE;
  private cr3Value = 0;
  private cr4Value = CR4_PAE;
  private eferValue = EFER_LME;
  private ac = false;
  private readonly patTypes = new Int32Array(POWER_ON_PAT);
  declare private readonly rsvdHi: number;
  /** rsvdHi plus XD while EFER.NXE is off. */
  private rsvdHiAll = 0;
  declare private readonly physLimit: number;
  /** Derived from the control registers: 0 = allowed, 1 = fault, 2 = walk (a write through a clean entry). */
  private readonly allowed = new Uint8Array(6 * 16);
  private pagingOn = false;
  declare private readonly pdeCacheOn: boolean;
  declare private readonly smallEntries: Float64Array;
  declare private readonly smallMask: number;
  private nxe = false;
  private pge = false;

  /** Details of the last successful {@link translate}. */
  readonly lastTranslation: TranslationInfo = {
    physical: 0,
    memoryType: MemoryType.WB,
    pageSize: PAGE,
    writable: false,
    user: false,
    executable: false,
    global: false,
  };
  /** Details of the last fault. */
  readonly lastFault: PageFaultInfo = { address: 0, errorCode: 0, access: Access.Read, user: false, reason: "" };
  /** 14 (#PF) or 13 (#GP) for the last fault. */
  lastFaultVector = 0;

  // Scratch for the walk: entries to mark Accessed once the translation is known to succeed.
  private readonly walkAddr = new Float64Array(4);
  private readonly walkLo = new Int32Array(4);

  /** A CPU at reset: paging off (CR0.PG = 0), power-on PAT, an empty TLB. */
  constructor(options: X86MmuOptions) {
    this.memory = options.memory;
    this.physicalAddressBits = checkInteger("physicalAddressBits", options.physicalAddressBits ?? 46, 32, 52);
    const tlbEntries = options.tlbEntries ?? 65536;
    checkInteger("tlbEntries", tlbEntries, 1, 1 << 24);
    if ((tlbEntries & (tlbEntries - 1)) !== 0) {
      throw new InvalidArgumentError("tlbEntries", tlbEntries, "not a power of two");
    }
    this.tlb = new Tlb(tlbEntries, Math.min(tlbEntries, 16384), options.memory);
    // The L1 and the PDE cache hold direct views of physical pages: a region moved or removed, or RAM given back,
    // may make them stale, so both are emptied (translations stay in the L2; views are asked for again on refill).
    // The subscription lives as long as the memory: an MMU is made once per machine.
    options.memory.onTopologyChange?.(() => {
      this.tlb.clearL1();
      this.tlb.clearPde();
      this.epoch++;
    });
    this.pdeCacheOn = options.pdeCache ?? true;
    this.smallEntries = this.tlb.small.e;
    this.smallMask = this.tlb.small.mask;
    this.rsvdHi = reservedHiMask(this.physicalAddressBits);
    this.physLimit = 2 ** this.physicalAddressBits;
    this.recompute();
  }

  // ---------------------------------------------------------------- control state

  /** CR0 (PE, WP, PG are the bits the MMU honours). */
  get cr0(): number {
    return this.cr0Value;
  }
  /** CR3: the PML4's physical address with PWT (bit 3) and PCD (bit 4). */
  get cr3(): number {
    return this.cr3Value;
  }
  /** CR4 (PAE, PGE, SMEP, SMAP). */
  get cr4(): number {
    return this.cr4Value;
  }
  /** IA32_EFER (LME, LMA, NXE). */
  get efer(): number {
    return this.eferValue;
  }
  /** EFLAGS.AC: with CR4.SMAP, supervisor data accesses to user pages are allowed while it is set (stac/clac). */
  get alignmentCheck(): boolean {
    return this.ac;
  }
  /** The IA32_PAT MSR (0x277). */
  get pat(): bigint {
    return packPat(Array.from(this.patTypes));
  }
  /** The memory type programmed in PAT entry `index` (0-7). */
  patEntry(index: number): MemoryTypeValue {
    return this.patTypes[checkInteger("index", index, 0, 7)] as MemoryTypeValue;
  }
  /** Physical base of the current PML4 (CR3 bits 51..12). */
  get pml4Base(): number {
    return this.cr3Value - (this.cr3Value % PAGE);
  }
  /** True when CR0.PG is set. */
  get pagingEnabled(): boolean {
    return this.pagingOn;
  }

  /**
   * MOV to CR0. Setting PG needs PE and CR4.PAE; with EFER.LME it activates long mode (EFER.LMA). Clearing PG
   * while long mode is active is a #GP, as on a CPU running 64-bit code. Changing PG or WP flushes the TLB.
   * @throws GeneralProtectionFault for the combinations the CPU refuses; InvalidArgumentError for a non-32-bit value.
   */
  writeCr0(value: number): void {
    // A 32-bit value, signed or not: `mmu.cr0 & ~BIT` is negative when bit 31 is set.
    value = checkInteger("cr0", value, -0x8000_0000, 0xffff_ffff) >>> 0;
    const pg = (value & CR0_PG) !== 0;
    if (pg && !(value & CR0_PE)) throw new GeneralProtectionFault(value, "CR0.PG set without CR0.PE");
    if (pg && !(this.cr4Value & CR4_PAE) && this.eferValue & EFER_LME) {
      throw new GeneralProtectionFault(value, "CR0.PG set with EFER.LME but without CR4.PAE");
    }
    if (!pg && this.eferValue & EFER_LMA) {
      throw new GeneralProtectionFault(value, "clearing CR0.PG in 64-bit mode");
    }
    const changed = (this.cr0Value ^ value) >>> 0;
    this.cr0Value = value >>> 0;
    if (pg && this.eferValue & EFER_LME) this.eferValue |= EFER_LMA;
    if (changed & (CR0_PG | CR0_WP)) this.tlb.flush(true);
    this.recompute();
  }

  /**
   * MOV to CR3: loads a PML4 (bits 51..12) and its PWT/PCD bits. Flushes every non-global TLB entry (every entry
   * when CR4.PGE is off).
   * @throws GeneralProtectionFault when bits at or above MAXPHYADDR are set.
   */
  writeCr3(value: number): void {
    checkInteger("cr3", value, 0, 2 ** 52 - 1);
    if (value >= this.physLimit) {
      throw new GeneralProtectionFault(value, `CR3 sets bits above MAXPHYADDR (${this.physicalAddressBits})`);
    }
    this.cr3Value = value;
    this.tlb.flush(!this.pge);
    this.epoch++;
  }

  /**
   * MOV to CR4. Clearing PAE in long mode is a #GP. Toggling PGE flushes the whole TLB, global entries included
   * (the usual way to drop global translations). SMEP and SMAP take effect at once: the TLB caches raw
   * permissions and they are checked on every access.
   */
  writeCr4(value: number): void {
    value = checkInteger("cr4", value, -0x8000_0000, 0xffff_ffff) >>> 0;
    if (!(value & CR4_PAE) && this.eferValue & EFER_LMA) {
      throw new GeneralProtectionFault(value, "clearing CR4.PAE in long mode");
    }
    const changed = (this.cr4Value ^ value) >>> 0;
    this.cr4Value = value >>> 0;
    if (changed & CR4_PGE) this.tlb.flush(true);
    this.recompute();
  }

  /** WRMSR IA32_EFER (0xC0000080). LMA is read-only (kept). Changing NXE flushes the TLB. */
  writeEfer(value: number): void {
    value = checkInteger("efer", value, -0x8000_0000, 0xffff_ffff) >>> 0;
    const next = ((value & ~EFER_LMA) | (this.eferValue & EFER_LMA)) >>> 0;
    const changed = this.eferValue ^ next;
    this.eferValue = next;
    if (changed & EFER_NXE) this.tlb.flush(true);
    this.recompute();
  }

  /**
   * WRMSR IA32_PAT (0x277). Flushes the TLB, since cached entries carry memory types.
   * @throws InvalidArgumentError for a reserved type encoding (WRMSR would #GP).
   */
  writePat(value: bigint): void {
    const types = unpackPat(value);
    this.patTypes.set(types);
    this.tlb.flush(true);
    this.epoch++;
  }

  /** Sets EFLAGS.AC (stac: true, clac: false). */
  setAlignmentCheck(ac: boolean): void {
    this.ac = ac;
    this.recompute();
  }

  /** Rebuilds the permission table and derived flags after a control-state change. */
  private recompute(): void {
    this.pagingOn = (this.cr0Value & CR0_PG) !== 0;
    this.nxe = (this.eferValue & EFER_NXE) !== 0;
    this.pge = (this.cr4Value & CR4_PGE) !== 0;
    this.rsvdHiAll = this.nxe ? this.rsvdHi : this.rsvdHi | PTE_HI_XD;
    const controls = this.controls();
    for (let a = 0; a < 6; a++) {
      for (let perm = 0; perm < 16; perm++)
        this.allowed[a * 16 + perm] = accessRule(controls, a >> 1, (a & 1) === 1, perm);
    }
    this.tlb.clearL1();
    this.tlb.clearPde();
    this.epoch++;
  }

  /** The paging-relevant control state, for the rules in permissions.ts. */
  private controls(): PagingControls {
    return {
      wp: (this.cr0Value & CR0_WP) !== 0,
      smep: (this.cr4Value & CR4_SMEP) !== 0,
      smap: (this.cr4Value & CR4_SMAP) !== 0,
      nxe: this.nxe,
      ac: this.ac,
    };
  }

  // ---------------------------------------------------------------- translation

  /**
   * Translates one access through the TLB and, on a miss, the page walk. Returns the physical address or -1 with
   * {@link lastFault} describing the #PF (or #GP). Fills {@link lastTranslation}. Allocates nothing.
   */
  translate(linear: number, access: AccessKind, user: boolean): number {
    const physical = this.lookup(linear, access, user);
    if (physical >= 0) this.describe(linear, physical);
    return physical;
  }

  /** Like {@link translate}, but throws `PageFault` or `GeneralProtectionFault` on a fault. */
  translateOrThrow(linear: number, access: AccessKind, user: boolean): number {
    const physical = this.translate(linear, access, user);
    if (physical < 0) throw this.faultError();
    return physical;
  }

  /**
   * Translates a canonical 64-bit address (as a CPU sees it). A non-canonical one raises #GP: returns -1 with
   * `lastFaultVector` 13.
   */
  translateCanonical(address: bigint, access: AccessKind, user: boolean): number {
    if (address < 0n || address > 0xffff_ffff_ffff_ffffn || !isCanonical48(address)) {
      return this.generalProtection(address, access, user, "non-canonical address: bits 63..47 differ");
    }
    return this.translate(Number(address & 0xffff_ffff_ffffn), access, user);
  }

  /** The error for the last fault: `PageFault` (#PF) or `GeneralProtectionFault` (#GP). */
  faultError(): PageFault | GeneralProtectionFault {
    const f = this.lastFault;
    if (this.lastFaultVector === VECTOR_GP) return new GeneralProtectionFault(f.address, f.reason);
    return new PageFault({ ...f }, formatCanonical48(f.address));
  }

  /**
   * The hot path: TLB lookup, then the walk on a miss. Returns the physical address or -1 (see {@link lastFault}).
   * Does not fill {@link lastTranslation}.
   */
  lookup(linear: number, access: AccessKind, user: boolean): number {
    const vpn = Math.floor(linear / PAGE);
    const tlb = this.tlb;
    const e = this.smallEntries;
    const i = (vpn & this.smallMask) * STRIDE;
    if (e[i] === vpn) {
      const gen = e[i + 3];
      if (
        (gen === tlb.nonGlobalGen || gen === -tlb.globalGen) &&
        this.allowed[(access * 2 + (user ? 1 : 0)) * 16 + (e[i + 2]! & 15)] === 0
      ) {
        tlb.hits++;
        if (access !== Access.Execute) tlb.promote(access * 2 + (user ? 1 : 0), vpn, e[i + 1]!);
        return e[i + 1]! + (linear - vpn * PAGE);
      }
    }
    return this.lookupSlow(linear, access, user);
  }

  private lookupSlow(linear: number, access: AccessKind, user: boolean): number {
    if (!(Number.isInteger(linear) && linear >= 0 && linear < LINEAR_LIMIT_48)) {
      return this.generalProtection(linear, access, user, "not a canonical linear address");
    }
    if (!this.pagingOn) return linear;
    const a = (access * 2 + (user ? 1 : 0)) * 16;
    const hit2m = this.probeLarge(this.tlb.large2m, linear, 0x20_0000, a);
    if (hit2m >= 0) return hit2m;
    const hit1g = this.probeLarge(this.tlb.large1g, linear, 0x4000_0000, a);
    if (hit1g >= 0) return hit1g;
    // A cached entry that refuses the access is dropped and the walk decides (a fault invalidates the TLB entries
    // of the faulting address, SDM 4.10.4.1); a write through a clean entry walks to set D.
    this.tlb.drop(linear);
    this.tlb.misses++;
    return this.walk(linear, access, user);
  }

  private probeLarge(array: TlbArray, linear: number, size: number, a: number): number {
    const number = Math.floor(linear / size);
    const e = array.e;
    const i = (number & array.mask) * STRIDE;
    if (e[i] !== number) return -1;
    const gen = e[i + 3];
    if (gen !== this.tlb.nonGlobalGen && gen !== -this.tlb.globalGen) return -1;
    if (this.allowed[a + (e[i + 2]! & 15)] !== 0) return -1;
    this.tlb.hits++;
    const phys = e[i + 1]! + (linear - number * size);
    // Reads and writes (a = (access * 2 + user) * 16; execute is 64 and up) get the 4 KiB piece into the L1.
    if (a < 64) this.tlb.promoteSplinter(a >>> 4, linear, phys - (phys % PAGE), size === 0x20_0000 ? SIZE_2M : SIZE_1G);
    return phys;
  }

  /**
   * The page walk (SDM 4.5), bypassing the TLB lookup: reads the four levels from physical memory, checks present
   * and reserved bits at each, combines R/W, U/S and XD across levels, checks the access (4.6), then sets Accessed
   * in every entry used and Dirty in the leaf on a write, and caches the translation. Accessed/Dirty are written
   * only when the translation succeeds (what Intel CPUs do: walk first, then update). Returns the physical address
   * or -1 (see {@link lastFault}).
   */
  walk(linear: number, access: AccessKind, user: boolean): number {
    // PDE-cache hit: the page table is known, only the PTE is read. This part is kept under the JIT's inlining size
    // so it can be inlined into callers (a call that is not inlined boxes the 48-bit address argument).
    const region = Math.floor(linear / 0x20_0000);
    const pde = this.tlb.pde;
    const k = (region & this.tlb.pdeMask) * 4;
    if (pde[k] !== region || !this.pdeCacheOn) return this.walkTables(linear, access, user, region);
    // The page table through its cached direct view (no call into the bus).
    const table = this.tlb.pdeViews[k >> 2]!;
    const o = this.tlb.pdeOffsets[k >> 2]! + ((linear >>> 12) & 511) * 8;
    const lo1 = table.getUint32(o, true);
    const hi1 = table.getUint32(o + 4, true);
    const perm =
      ((pde[k + 2]! & lo1 & (PTE_RW | PTE_US)) >>> 1) |
      (pde[k + 3] || hi1 & PTE_HI_XD ? 0 : PERM_X) |
      (lo1 & PTE_G && this.pge ? PERM_G : 0);
    if (
      !(lo1 & PTE_P) ||
      hi1 & this.rsvdHiAll ||
      this.allowed[(access * 2 + (user ? 1 : 0)) * 16 + ((perm | (lo1 & PTE_D ? PERM_D : 0)) & 15)] === 1
    ) {
      return this.pdeFault(k, linear, access, user);
    }
    const leaf = access === Access.Write ? lo1 | PTE_A | PTE_D : lo1 | PTE_A;
    if (leaf !== (lo1 | 0)) table.setUint32(o, leaf >>> 0, true); // lo1 is unsigned, leaf a signed int32
    return this.cache4k(linear, access, user, lo1, hi1, perm | (leaf & PTE_D ? PERM_D : 0));
  }

  /** A PDE-cache hit whose PTE refuses the access: a fault drops the cached entries (SDM 4.10.4.1), the full walk says why. */
  private pdeFault(k: number, linear: number, access: AccessKind, user: boolean): number {
    this.tlb.pde[k] = Number.NaN;
    return this.walkCore(linear, access, user, null, true);
  }

  /** The walk from CR3 down, unrolled; anything unusual goes to walkCore. Fills the PDE cache for 4 KiB pages. */
  private walkTables(linear: number, access: AccessKind, user: boolean, region: number): number {
    const mem = this.memory;
    const rsvd = this.rsvdHiAll;
    const high = Math.floor(linear / TWO_32);
    const low = linear >>> 0;
    const a4 = this.pml4Base + ((high >>> 7) & 511) * 8;
    const lo4 = mem.read32(a4);
    const hi4 = mem.read32(a4 + 4);
    if (!(lo4 & PTE_P) || hi4 & rsvd || lo4 & PTE_PS) return this.walkCore(linear, access, user, null, true);
    const a3 = ((lo4 & PTE_ADDR_LO) >>> 0) + (hi4 & PTE_ADDR_HI) * TWO_32 + (((high << 2) | (low >>> 30)) & 511) * 8;
    const lo3 = mem.read32(a3);
    const hi3 = mem.read32(a3 + 4);
    if (!(lo3 & PTE_P) || hi3 & rsvd || (lo3 & PTE_PS && lo3 & RSVD_1G_LO)) {
      return this.walkCore(linear, access, user, null, true);
    }
    let w = lo4 & lo3;
    let xd = hi4 | hi3;
    let lo = lo3;
    let hi = hi3;
    let address = a3;
    let a2 = -1;
    let lo2 = 0;
    let hi2 = 0;
    let sizeCode = SIZE_1G;
    if (!(lo3 & PTE_PS)) {
      a2 = ((lo3 & PTE_ADDR_LO) >>> 0) + (hi3 & PTE_ADDR_HI) * TWO_32 + ((low >>> 21) & 511) * 8;
      lo2 = mem.read32(a2);
      hi2 = mem.read32(a2 + 4);
      if (!(lo2 & PTE_P) || hi2 & rsvd || (lo2 & PTE_PS && lo2 & RSVD_2M_LO)) {
        return this.walkCore(linear, access, user, null, true);
      }
      w &= lo2;
      xd |= hi2;
      lo = lo2;
      hi = hi2;
      address = a2;
      sizeCode = SIZE_2M;
      if (!(lo2 & PTE_PS)) {
        const a1 = ((lo2 & PTE_ADDR_LO) >>> 0) + (hi2 & PTE_ADDR_HI) * TWO_32 + ((low >>> 12) & 511) * 8;
        const lo1 = mem.read32(a1);
        const hi1 = mem.read32(a1 + 4);
        if (!(lo1 & PTE_P) || hi1 & rsvd) return this.walkCore(linear, access, user, null, true);
        w &= lo1;
        xd |= hi1;
        lo = lo1;
        hi = hi1;
        address = a1;
        sizeCode = SIZE_4K;
      }
    }
    const perm =
      ((w & (PTE_RW | PTE_US)) >>> 1) | // R/W (bit 1) -> PERM_W (bit 0), U/S (bit 2) -> PERM_U (bit 1)
      (xd & PTE_HI_XD ? 0 : PERM_X) |
      (lo & PTE_G && this.pge ? PERM_G : 0);
    const a = (access * 2 + (user ? 1 : 0)) * 16;
    if (this.allowed[a + ((perm | (lo & PTE_D ? PERM_D : 0)) & 15)] === 1) {
      return this.walkCore(linear, access, user, null, true);
    }
    // The access is allowed: Accessed at every level used, Dirty in the leaf on a write.
    if (!(lo4 & PTE_A)) mem.write32(a4, (lo4 | PTE_A) >>> 0);
    if (address !== a3 && !(lo3 & PTE_A)) mem.write32(a3, (lo3 | PTE_A) >>> 0);
    if (a2 >= 0 && address !== a2 && !(lo2 & PTE_A)) mem.write32(a2, (lo2 | PTE_A) >>> 0);
    const leaf = access === Access.Write ? lo | PTE_A | PTE_D : lo | PTE_A;
    if (leaf !== (lo | 0)) mem.write32(address, leaf >>> 0);
    if (sizeCode === SIZE_4K && this.pdeCacheOn) {
      const upper = lo4 & lo3 & lo2;
      const upperXd = ((hi4 | hi3 | hi2) & PTE_HI_XD) !== 0;
      this.tlb.cachePde(region, ((lo2 & PTE_ADDR_LO) >>> 0) + (hi2 & PTE_ADDR_HI) * TWO_32, upper, upperXd);
    }
    return this.cache(linear, access, user, sizeCode, lo, hi, perm | (leaf & PTE_D ? PERM_D : 0));
  }

  /** {@link cache} for a 4 KiB page, without the size arithmetic (the PDE-cache hit path). */
  private cache4k(linear: number, access: number, user: boolean, lo: number, hi: number, perm: number): number {
    const base = ((lo & PTE_ADDR_LO) >>> 0) + (hi & PTE_ADDR_HI) * TWO_32;
    const vpn = Math.floor(linear / PAGE);
    const type = this.patTypes[((lo & 0x80) >>> 5) | ((lo & (PTE_PCD | PTE_PWT)) >>> 3)]!;
    const e = this.smallEntries;
    const i = (vpn & this.smallMask) * STRIDE;
    e[i] = vpn;
    e[i + 1] = base;
    e[i + 2] = perm | (type << INFO_TYPE_SHIFT);
    e[i + 3] = perm & PERM_G ? -this.tlb.globalGen : this.tlb.nonGlobalGen;
    if (access !== Access.Execute) this.tlb.promote(access * 2 + (user ? 1 : 0), vpn, base);
    return base + (linear - vpn * PAGE);
  }

  /** Caches a successful translation (L2, and L1 for 4 KiB reads/writes) and returns the physical address. */
  private cache(
    linear: number,
    access: number,
    user: boolean,
    sizeCode: number,
    lo: number,
    hi: number,
    perm: number,
  ): number {
    const size = SIZE_BYTES[sizeCode]!;
    const frameLo = sizeCode === SIZE_4K ? lo : sizeCode === SIZE_2M ? lo & 0xffe0_0000 : lo & 0xc000_0000;
    const base = ((frameLo & PTE_ADDR_LO) >>> 0) + (hi & PTE_ADDR_HI) * TWO_32;
    const number = Math.floor(linear / size);
    const type = this.patTypes[patIndex(lo, sizeCode !== SIZE_4K)]!;
    this.tlb.fill(sizeCode, number, base, perm | (type << INFO_TYPE_SHIFT));
    const phys = base + (linear - number * size);
    if (access !== Access.Execute) {
      if (sizeCode === SIZE_4K) this.tlb.promote(access * 2 + (user ? 1 : 0), number, base);
      else this.tlb.promoteSplinter(access * 2 + (user ? 1 : 0), linear, phys - (phys % PAGE), sizeCode);
    }
    return phys;
  }

  /** The walk; `steps` (explain) records every level; `commit` writes A/D and fills the TLB. */
  private walkCore(linear: number, access: number, user: boolean, steps: WalkStep[] | null, commit: boolean): number {
    const mem = this.memory;
    const high = Math.floor(linear / TWO_32);
    const low = linear >>> 0;
    let table = this.pml4Base;
    let w = 1;
    let u = 1;
    let xd = 0;
    let lo = 0;
    let hi = 0;
    let level = 4;
    for (; level >= 1; level--) {
      const index =
        level === 4
          ? (high >>> 7) & 511
          : level === 3
            ? ((high << 2) | (low >>> 30)) & 511
            : level === 2
              ? (low >>> 21) & 511
              : (low >>> 12) & 511;
      const address = table + index * 8;
      lo = mem.read32(address);
      hi = mem.read32(address + 4);
      if (steps !== null) steps.push(decodeStep(level, index, table, address, lo, hi, this.rsvdHi, this.nxe));
      this.walkAddr[4 - level] = address;
      this.walkLo[4 - level] = lo;
      if (!(lo & PTE_P)) return this.pageFault(linear, access, user, 0, NOT_PRESENT[level]!);
      if (hi & this.rsvdHi) return this.pageFault(linear, access, user, PF_P | PF_RSVD, RESERVED_ABOVE_MAXPHY[level]!);
      if (hi & PTE_HI_XD && !this.nxe) return this.pageFault(linear, access, user, PF_P | PF_RSVD, RESERVED_XD[level]!);
      w &= lo >>> 1;
      u &= lo >>> 2;
      if (hi & PTE_HI_XD) xd = 1;
      if (lo & PTE_PS) {
        if (level === 4) return this.pageFault(linear, access, user, PF_P | PF_RSVD, "PML4E sets PS (reserved)");
        if (level === 3) {
          if (lo & RSVD_1G_LO)
            return this.pageFault(linear, access, user, PF_P | PF_RSVD, "1 GiB PDPTE sets bits 29:13 (reserved)");
          break;
        }
        if (level === 2) {
          if (lo & RSVD_2M_LO)
            return this.pageFault(linear, access, user, PF_P | PF_RSVD, "2 MiB PDE sets bits 20:13 (reserved)");
          break;
        }
      }
      if (level === 1) break;
      table = entryAddress(lo, hi);
    }
    const leafLevel = level;
    const sizeCode = leafLevel === 1 ? SIZE_4K : leafLevel === 2 ? SIZE_2M : SIZE_1G;
    const size = SIZE_BYTES[sizeCode]!;
    // For large pages bit 12 is PAT, not address: clear the bits below the page size.
    const frameLo = sizeCode === SIZE_4K ? lo : sizeCode === SIZE_2M ? lo & 0xffe0_0000 : lo & 0xc000_0000;
    const base = entryAddress(frameLo, hi);
    const perm =
      (w & 1 ? PERM_W : 0) | (u & 1 ? PERM_U : 0) | (xd ? 0 : PERM_X) | (lo & PTE_G && this.pge ? PERM_G : 0);
    const leafDirty = (lo & PTE_D) !== 0;
    if (this.allowed[(access * 2 + (user ? 1 : 0)) * 16 + ((perm | (leafDirty ? PERM_D : 0)) & 15)] === 1) {
      return this.pageFault(linear, access, user, PF_P, denialReason(this.controls(), access, user, perm));
    }
    const offset = linear - Math.floor(linear / size) * size;
    if (!commit) return base + offset;
    // Success: Accessed at every level walked, Dirty in the leaf on a write.
    const used = 5 - leafLevel;
    for (let i = 0; i < used; i++) {
      const entry = this.walkLo[i]!;
      const isLeaf = i === used - 1;
      const want = isLeaf && access === Access.Write ? entry | PTE_A | PTE_D : entry | PTE_A;
      if (want !== entry) mem.write32(this.walkAddr[i]!, want >>> 0);
    }
    return this.cache(
      linear,
      access,
      user,
      sizeCode,
      lo,
      hi,
      perm | (leafDirty || access === Access.Write ? PERM_D : 0),
    );
  }

  private pageFault(linear: number, access: number, user: boolean, code: number, reason: string): number {
    let errorCode = code;
    if (access === Access.Write) errorCode |= PF_WR;
    if (user) errorCode |= PF_US;
    if (access === Access.Execute && (this.nxe || this.cr4Value & CR4_SMEP)) errorCode |= PF_ID;
    const f = this.lastFault;
    f.address = linear;
    f.errorCode = errorCode;
    f.access = access as AccessKind;
    f.user = user;
    f.reason = reason;
    this.lastFaultVector = VECTOR_PF;
    return -1;
  }

  private generalProtection(address: number | bigint, access: number, user: boolean, reason: string): number {
    const f = this.lastFault;
    f.address = typeof address === "bigint" ? Number(address & 0xffff_ffff_ffffn) : address;
    f.errorCode = 0;
    f.access = access as AccessKind;
    f.user = user;
    f.reason = `${reason} (${typeof address === "bigint" ? `0x${address.toString(16).toUpperCase()}` : String(address)})`;
    this.lastFaultVector = VECTOR_GP;
    return -1;
  }

  /** Fills lastTranslation for a translation the TLB now holds (or identity when paging is off). */
  private describe(linear: number, physical: number): void {
    const t = this.lastTranslation;
    t.physical = physical;
    let info = PERM_W | PERM_U | PERM_X | (MemoryType.WB << INFO_TYPE_SHIFT);
    if (this.pagingOn) {
      info = this.probeInfo(linear);
    }
    t.memoryType = effectiveMemoryType(((info >>> INFO_TYPE_SHIFT) & 7) as MemoryTypeValue);
    t.pageSize = SIZE_BYTES[(info >>> INFO_SIZE_SHIFT) & 3] ?? PAGE;
    t.writable = (info & PERM_W) !== 0;
    t.user = (info & PERM_U) !== 0;
    t.executable = (info & PERM_X) !== 0 || !this.nxe;
    t.global = (info & PERM_G) !== 0;
  }

  private probeInfo(linear: number): number {
    const tlb = this.tlb;
    for (let code = SIZE_4K; code <= SIZE_1G; code++) {
      const array = code === SIZE_4K ? tlb.small : code === SIZE_2M ? tlb.large2m : tlb.large1g;
      const number = Math.floor(linear / SIZE_BYTES[code]!);
      const i = (number & array.mask) * STRIDE;
      if (array.e[i] === number) return array.e[i + 2]!;
    }
    return 0;
  }

  // ---------------------------------------------------------------- TLB maintenance

  /** invlpg: drops the cached translation of the page holding `linear`, global or not, of any page size. */
  invalidate(linear: number): void {
    this.tlb.invalidate(linear);
    this.epoch++;
  }

  /** Drops every non-global translation, or all of them with `includeGlobal`. */
  flushAll(includeGlobal = false): void {
    this.tlb.flush(includeGlobal);
    this.epoch++;
  }

  /**
   * TLB statistics since the last {@link resetTlbStats}: L2 hits, misses (walks) and flushes. Hits in the L1 arrays that
   * VirtualMemory probes inline are not counted, so that its fast path stays a single typed-array probe.
   */
  get tlbStats(): { readonly hits: number; readonly misses: number; readonly flushes: number } {
    return { hits: this.tlb.hits, misses: this.tlb.misses, flushes: this.tlb.flushes };
  }

  /** Zeroes the TLB statistics. */
  resetTlbStats(): void {
    this.tlb.resetStats();
  }

  // ---------------------------------------------------------------- explanation

  /**
   * Explains how `linear` translates for `access` without changing anything (no A/D writes, no TLB fill): each
   * level's entry decoded, then the physical address and memory type, or the fault with its error code and reason.
   */
  explain(linear: number, access: AccessKind = Access.Read, user = false): WalkExplanation {
    const steps: WalkStep[] = [];
    const saved = { ...this.lastFault };
    const savedVector = this.lastFaultVector;
    let physical = -1;
    let result: WalkExplanation["result"];
    if (!(Number.isInteger(linear) && linear >= 0 && linear < LINEAR_LIMIT_48)) {
      this.generalProtection(linear, access, user, "not a canonical linear address");
    } else if (!this.pagingOn) {
      physical = linear;
    } else {
      physical = this.walkCore(linear, access, user, steps, false);
    }
    if (physical >= 0) {
      const leaf = steps[steps.length - 1];
      const large = leaf !== undefined && leaf.level > 1;
      const type = leaf ? (this.patTypes[patIndex(leaf.lo, large)]! as MemoryTypeValue) : MemoryType.WB;
      result = {
        ok: true,
        physical,
        memoryType: effectiveMemoryType(type),
        patType: type,
        pageSize: leaf ? (leaf.pageSize ?? PAGE) : PAGE,
      };
    } else {
      const f = this.lastFault;
      result = { ok: false, vector: this.lastFaultVector, errorCode: f.errorCode, reason: f.reason };
    }
    Object.assign(this.lastFault, saved);
    this.lastFaultVector = savedVector;
    return { linear, access, user, steps, result };
  }

  /** The memory type used to read the PML4 itself (CR3.PCD/PWT select PAT entries 0-3). */
  get pml4MemoryType(): MemoryTypeValue {
    const index = (this.cr3Value & CR3_PCD ? 2 : 0) | (this.cr3Value & CR3_PWT ? 1 : 0);
    return this.patTypes[index] as MemoryTypeValue;
  }

  /** {@link explain} as text: each level decoded, then the result or the fault with its error code. */
  explainText(linear: number, access: AccessKind = Access.Read, user = false): string {
    return formatWalk(this.explain(linear, access, user));
  }

  /** QEMU-style `info mem` of the current address space (or of `pml4`). */
  infoMem(pml4?: number): string {
    return formatInfoMem(this, pml4);
  }

  /** QEMU-style `info tlb`: every leaf mapping of the current address space (or of `pml4`). */
  infoTlb(pml4?: number): string {
    return formatInfoTlb(this, pml4);
  }

  /** The translations the TLB holds right now, stale ones included. */
  tlbDump(): string {
    return formatTlbCache(this);
  }
}
