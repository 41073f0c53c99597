// The TLB: cached translations in typed arrays, never a Map. A direct-mapped array of 4 KiB translations plus two
// small direct-mapped arrays for 2 MiB and 1 GiB pages (real CPUs also keep large pages in separate structures).
// Validity uses generation numbers so a CR3 reload (drop every non-global entry) costs O(1).
import type { DirectViewSlot, PhysicalMemory } from "@ksim/core";

/** Cached permission bits of an entry: writable, user and executable at every level, and the leaf's D bit. */
export const PERM_W = 0x01;
/** U/S = 1 at every level. */
export const PERM_U = 0x02;
/** XD = 0 at every level. */
export const PERM_X = 0x04;
/** The leaf's D bit is set. */
export const PERM_D = 0x08;
/** The translation is global (G set in the leaf and CR4.PGE on). */
export const PERM_G = 0x10;
/** Bits 8..10 hold the memory type; bits 12..13 the page-size code (0: 4 KiB, 1: 2 MiB, 2: 1 GiB). */
export const INFO_TYPE_SHIFT = 8;
/** Shift of the page-size code in an entry's info word. */
export const INFO_SIZE_SHIFT = 12;

/** Page-size codes: 4 KiB, 2 MiB, 1 GiB. */
export const SIZE_4K = 0;
/** 2 MiB page-size code. */
export const SIZE_2M = 1;
/** 1 GiB page-size code. */
export const SIZE_1G = 2;

/** Doubles per slot in {@link TlbArray.e}: tag, frame, info, generation (one cache line holds two slots). */
export const STRIDE = 4;

/**
 * One direct-mapped array of translations for pages of one size, interleaved in a single Float64Array so a lookup
 * touches one cache line: `e[slot * 4]` is the page number (linear address / page size; NaN when empty,
 * since NaN equals nothing, not even a page number computed from a bad address),
 * `+1` the physical base, `+2` the PERM_* bits with the memory type and size code, `+3` the generation it was
 * filled in (the non-global generation, or minus the global one).
 */
export class TlbArray {
  declare readonly entries: number;
  declare readonly mask: number;
  declare readonly e: Float64Array;

  /** @param entries slots (a power of two). */
  constructor(entries: number) {
    this.entries = entries;
    this.mask = entries - 1;
    this.e = new Float64Array(entries * STRIDE);
    for (let i = 0; i < entries; i++) this.e[i * STRIDE] = Number.NaN;
  }
}

/** A snapshot of one cached translation, for dumps. */
export interface TlbEntryView {
  readonly linear: number;
  readonly physical: number;
  readonly pageSize: number;
  readonly writable: boolean;
  readonly user: boolean;
  readonly executable: boolean;
  readonly dirty: boolean;
  readonly global: boolean;
  readonly memoryType: number;
}

const PAGE_SIZES = [0x1000, 0x20_0000, 0x4000_0000] as const;

/** L1 array index: kernel read, user read, kernel write, user write (access * 2 + user). */
export const L1_KERNEL_READ = 0;
/** L1 array of user reads. */
export const L1_USER_READ = 1;
/** L1 array of kernel writes. */
export const L1_KERNEL_WRITE = 2;
/** L1 array of user writes. */
export const L1_USER_WRITE = 3;

/**
 * Doubles per slot of {@link Tlb.l1}: `[page number, frame, fast tag, view offset]`. One slot is 32 bytes, so a miss
 * (which writes all four) and a hit (which reads the last two) each touch one cache line.
 */
export const L1_STRIDE = 4;

/**
 * The DataView an L1 slot holds when no direct view is cached in it, so that the views arrays only ever hold
 * DataViews and stay monomorphic in V8. Never read through: a slot's view is used only when its fast tag matches.
 */
export const NO_VIEW: DataView = new DataView(new ArrayBuffer(0));

/** View-offset word of a filled L1 slot whose view has not been looked up yet. */
export const VIEW_PENDING = -1;
/** View-offset word of an L1 slot whose page has no direct view (registers, holes, unwritten RAM). */
export const VIEW_NONE = -2;
/** View-offset word of an L1 slot whose page lives in the memory's linear view (its hit data is in the tier-1 arrays). */
export const VIEW_LINEAR = -3;

/** Large pages whose 4 KiB pieces the L1 tracks one by one (see Tlb.promoteSplinter). */
export const MAX_SPLINTERED = 16;

/** Entries of the PDE cache: 256 regions of 2 MiB (512 MiB of linear space in page tables). */
export const PDE_CACHE_ENTRIES = 256;

/**
 * The translation lookaside buffer, in two levels as on real CPUs. The L2 ({@link small}, {@link large2m},
 * {@link large1g}) holds every cached translation with its permissions, memory type, global bit and generation.
 * The L1 is four small direct-mapped arrays, one per (read/write, kernel/user), holding 4 KiB translations (4 KiB
 * pieces of large pages included, see {@link promoteSplinter}) already checked for that kind of access (writes only
 * once D is set). Tier 1 ({@link l1Linear}) serves pages in the memory's linear view. A slot of {@link l1} holds `[page number,
 * frame, fast tag, view offset]` and {@link l1Views} the page's direct host view (`PhysicalMemory.directView`, cached like QEMU's
 * softmmu TLB caches a host address per page). A fast tag is set only while a view is cached, so a hit costs one tag
 * compare and one DataView access, with no permission work, no "is there a view" test and no call into the bus,
 * which is what keeps VirtualMemory's hot path close to raw typed-array speed. The L1 is emptied by every flush,
 * every control-register change and every topology change of the physical memory (its views may be stale), and
 * loses the page on invlpg; it is refilled from the L2 or the walk.
 */
export class Tlb {
  declare readonly small: TlbArray;
  declare readonly large2m: TlbArray;
  declare readonly large1g: TlbArray;
  /** Generation of non-global entries; bumped by a CR3 reload. */
  nonGlobalGen = 1;
  /** Generation of global entries; bumped by a full flush. */
  globalGen = 1;
  /**
   * The PDE cache, one of the paging-structure caches of SDM 4.10.3: per 2 MiB region, `[region number or NaN,
   * page-table base, R/W and U/S of PML4E & PDPTE & PDE, 1 if any of them has XD]`, filled by successful walks
   * through a page table. A TLB miss that hits it reads only the PTE. Emptied by invlpg (which invalidates every
   * paging-structure-cache entry, SDM 4.10.4.1), CR3 loads and control-register changes.
   */
  declare readonly pde: Float64Array;
  declare readonly pdeMask: number;
  /**
   * Per PDE-cache entry: the direct view of the page table (`PhysicalMemory.directView`) and the table's offset in
   * it, so a TLB miss that hits the PDE cache reads and updates the PTE with no call into the bus. An entry is only
   * cached when its table has a view (page tables live in RAM), so a memory without direct views gets no PDE cache.
   */
  declare readonly pdeViews: DataView[];
  declare readonly pdeOffsets: Float64Array;
  /**
   * The L1 arrays, indexed by `access * 2 + user` for reads and writes: slots of {@link L1_STRIDE} doubles,
   * `[page number or NaN, frame, fast tag, view offset]`. The fast tag is the page number only while the slot's view
   * is cached (bytes `[offset, offset + 4096)` of `l1Views[array][slot]` are the page); otherwise it is NaN and the
   * offset word says why: {@link VIEW_PENDING} (not looked up yet) or {@link VIEW_NONE}.
   */
  declare readonly l1: readonly Float64Array[];
  /** Per L1 array, per slot: the cached direct view, meaningful only while the slot's fast tag is set. */
  declare readonly l1Views: readonly DataView[][];
  /**
   * Tier 1 of the L1, per array and slot: the linear address of the page (a multiple of 4096) while its bytes are in
   * {@link linear} at `l1LinearOffsets[array][slot] >>> 0`, else NaN. Dense (8 + 4 bytes per slot, apart from the
   * 32-byte slots) and read through one view held in a field, so a hit loads one tag and one offset: measured
   * 0.58x raw `DataView` on random reads over 64 MiB, against 0.41-0.45x with a view reference per slot.
   */
  declare readonly l1Linear: readonly Float64Array[];
  /** Tier 1 offsets into {@link linear}, stored `| 0` (read back `>>> 0`: the view may be up to 4 GiB long). */
  declare readonly l1LinearOffsets: readonly Int32Array[];
  /** The memory's `linearView`, or an empty view when it has none (then tier 1 stays empty). */
  declare readonly linear: DataView;
  declare readonly l1Mask: number;
  /** The memory whose direct views the L1 caches, or null (no `directView`/`onTopologyChange`: NO_VIEW always). */
  declare private readonly direct: PhysicalMemory | null;
  declare private readonly slot: DirectViewSlot;
  hits = 0;
  misses = 0;
  flushes = 0;
  /** Slots filled since the L1 was last emptied (array index * slots + slot), unless it overflowed. */
  declare private readonly l1Used: Int32Array;
  private l1UsedCount = 0;
  private l1Overflow = false;
  /**
   * Large pages (2 MiB, 1 GiB) with 4 KiB pieces in the L1 ("splinters", as QEMU's softmmu keeps large pages), as
   * `linear base * 4 + size code`, so that invlpg of any address in such a page also drops its pieces (on hardware it
   * drops the one large entry). Past {@link MAX_SPLINTERED} pages any invlpg empties the L1.
   */
  declare private readonly splintered: Float64Array;
  private splinteredCount = 0;
  private splinteredOverflow = false;
  private pdeUsed = false;

  /**
   * @param entries slots for 4 KiB pages in the L2 (a power of two).
   * @param l1Entries slots of each L1 array (a power of two).
   * @param memory the physical memory translations point into; when it offers direct views (both `directView` and
   *   `onTopologyChange`) the L1 caches them. The caller empties the L1 on its topology changes.
   */
  constructor(entries: number, l1Entries: number, memory?: PhysicalMemory) {
    this.small = new TlbArray(entries);
    this.large2m = new TlbArray(64);
    this.large1g = new TlbArray(16);
    this.l1 = [0, 1, 2, 3].map(() => new Float64Array(l1Entries * L1_STRIDE).fill(Number.NaN));
    this.l1Views = [0, 1, 2, 3].map(() => new Array<DataView>(l1Entries).fill(NO_VIEW));
    this.l1Mask = l1Entries - 1;
    this.l1Linear = [0, 1, 2, 3].map(() => new Float64Array(l1Entries).fill(Number.NaN));
    this.l1LinearOffsets = [0, 1, 2, 3].map(() => new Int32Array(l1Entries));
    this.direct =
      memory !== undefined && typeof memory.directView === "function" && typeof memory.onTopologyChange === "function"
        ? memory
        : null;
    this.linear = this.direct?.linearView ?? NO_VIEW;
    this.slot = { offset: 0 };
    this.pde = new Float64Array(PDE_CACHE_ENTRIES * 4).fill(Number.NaN);
    this.pdeViews = new Array<DataView>(PDE_CACHE_ENTRIES).fill(NO_VIEW);
    this.pdeOffsets = new Float64Array(PDE_CACHE_ENTRIES);
    this.l1Used = new Int32Array(4096);
    this.splintered = new Float64Array(MAX_SPLINTERED);
    this.pdeMask = PDE_CACHE_ENTRIES - 1;
  }

  /**
   * Caches the page table that maps the 2 MiB `region`, with the permissions of the levels above it, when the table
   * has a direct view (otherwise nothing is cached: the PDE-cache hit path reads the PTE through the view).
   */
  cachePde(region: number, tableBase: number, upperBits: number, upperXd: boolean): void {
    const view = this.direct === null ? null : this.direct.directView!(tableBase, false, this.slot);
    if (view === null) return;
    const slot = region & this.pdeMask;
    const k = slot * 4;
    this.pdeUsed = true;
    this.pde[k] = region;
    this.pde[k + 1] = tableBase;
    this.pde[k + 2] = upperBits;
    this.pde[k + 3] = upperXd ? 1 : 0;
    this.pdeViews[slot] = view;
    this.pdeOffsets[slot] = this.slot.offset;
  }

  /** Empties the paging-structure caches. */
  clearPde(): void {
    if (!this.pdeUsed) return;
    this.pde.fill(Number.NaN);
    this.pdeViews.fill(NO_VIEW); // lets released memory be collected
    this.pdeUsed = false;
  }

  /**
   * Puts a 4 KiB translation allowed for `l1Index`'s kind of access into that L1 array. Its direct view is not
   * looked up here but on the first access that finds the slot (see {@link resolveView}): a miss costs no view
   * lookup for pages touched once, which keeps the walk fast, and a page touched again pays it once.
   */
  promote(l1Index: number, pageNumber: number, frame: number): void {
    const array = this.l1[l1Index]!;
    const j = pageNumber & this.l1Mask;
    const i = j * L1_STRIDE;
    if (Number.isNaN(array[i])) {
      // The slot was empty: remember it, so that emptying the L1 touches only used slots.
      if (this.l1UsedCount < this.l1Used.length) this.l1Used[this.l1UsedCount++] = l1Index * (this.l1Mask + 1) + j;
      else this.l1Overflow = true;
    } else {
      // The slot held another page (or this one): its tier-1 entry, if any, no longer applies.
      this.l1Linear[l1Index]![j] = Number.NaN;
    }
    array[i] = pageNumber;
    array[i + 1] = frame;
    array[i + 2] = Number.NaN;
    array[i + 3] = VIEW_PENDING;
  }

  /**
   * Looks up the direct view of the page in L1 slot `j` of array `l1Index` (filled, view pending) and caches it:
   * in tier 1 when it is the memory's linear view, else in the slot; or marks the slot VIEW_NONE. Write entries ask
   * with `forWrite` (their page is being written: a sparse memory allocates it and counts it); read entries do not,
   * so reading never-written RAM allocates nothing (such a page may keep the checked path until refilled).
   */
  resolveView(l1Index: number, j: number): void {
    const i = j * L1_STRIDE;
    const array = this.l1[l1Index]!;
    const forWrite = l1Index >= L1_KERNEL_WRITE;
    const view = this.direct === null ? null : this.direct.directView!(array[i + 1]!, forWrite, this.slot);
    if (view === null) {
      array[i + 3] = VIEW_NONE;
    } else if (view === this.linear) {
      array[i + 3] = VIEW_LINEAR;
      this.l1LinearOffsets[l1Index]![j] = this.slot.offset | 0;
      this.l1Linear[l1Index]![j] = array[i]! * 0x1000;
    } else {
      this.l1Views[l1Index]![j] = view;
      array[i + 3] = this.slot.offset;
      array[i + 2] = array[i]!;
    }
  }

  /**
   * Puts a 4 KiB piece of a large page into the L1: the page at `linear`, whose frame is `frame`, of the large page
   * of size code `sizeCode` that holds it. Remembers the large page so that invlpg inside it drops the piece.
   */
  promoteSplinter(l1Index: number, linear: number, frame: number, sizeCode: number): void {
    const size = PAGE_SIZES[sizeCode]!;
    const key = (linear - (linear % size)) * 4 + sizeCode;
    let known = this.splinteredOverflow;
    for (let n = 0; n < this.splinteredCount && !known; n++) known = this.splintered[n] === key;
    if (!known) {
      if (this.splinteredCount < MAX_SPLINTERED) this.splintered[this.splinteredCount++] = key;
      else this.splinteredOverflow = true;
    }
    this.promote(l1Index, Math.floor(linear / 0x1000), frame);
  }

  /** True when the L1 may hold pieces of a large page that contains `linear`. */
  private splinteredAt(linear: number): boolean {
    if (this.splinteredOverflow) return true;
    for (let n = 0; n < this.splinteredCount; n++) {
      const key = this.splintered[n]!;
      const code = key % 4;
      const base = (key - code) / 4;
      if (linear >= base && linear < base + PAGE_SIZES[code]!) return true;
    }
    return false;
  }

  /** Empties the L1 (permissions or the address space changed): the used slots, or everything after many fills. */
  clearL1(): void {
    this.splinteredCount = 0;
    this.splinteredOverflow = false;
    if (this.l1Overflow) {
      for (const array of this.l1) array.fill(Number.NaN);
      for (const tags of this.l1Linear) tags.fill(Number.NaN);
      for (const views of this.l1Views) views.fill(NO_VIEW);
    } else {
      const slots = this.l1Mask + 1;
      for (let n = 0; n < this.l1UsedCount; n++) {
        const at = this.l1Used[n]!;
        const index = Math.floor(at / slots);
        const j = at % slots;
        this.l1[index]![j * L1_STRIDE] = Number.NaN;
        this.l1[index]![j * L1_STRIDE + 2] = Number.NaN;
        this.l1Linear[index]![j] = Number.NaN;
        // Dropping the view too lets a released RAM chunk be garbage-collected.
        this.l1Views[index]![j] = NO_VIEW;
      }
    }
    this.l1UsedCount = 0;
    this.l1Overflow = false;
  }

  private arrayFor(sizeCode: number): TlbArray {
    return sizeCode === SIZE_4K ? this.small : sizeCode === SIZE_2M ? this.large2m : this.large1g;
  }

  /** Caches a translation of the page `pageNumber` (in units of its size) to the physical `frame`. */
  fill(sizeCode: number, pageNumber: number, frame: number, info: number): void {
    const array = this.arrayFor(sizeCode);
    const i = (pageNumber & array.mask) * STRIDE;
    const e = array.e;
    e[i] = pageNumber;
    e[i + 1] = frame;
    e[i + 2] = info | (sizeCode << INFO_SIZE_SHIFT);
    e[i + 3] = info & PERM_G ? -this.globalGen : this.nonGlobalGen;
  }

  private valid(array: TlbArray, slot: number): boolean {
    const gen = array.e[slot * STRIDE + 3]!;
    return array.e[slot * STRIDE]! >= 0 && (gen === this.nonGlobalGen || gen === -this.globalGen);
  }

  /** invlpg: drops every cached translation of the page (of any size) that holds `linear`, and the PDE cache. */
  invalidate(linear: number): void {
    this.drop(linear);
    this.clearPde();
  }

  /** Drops the TLB entries (L1 and L2, any page size) of the page holding `linear`; the PDE cache stays. */
  drop(linear: number): void {
    if (this.splinteredCount !== 0 || this.splinteredOverflow) {
      // The page may be a piece of a large page: the whole large page goes, and its pieces with it.
      if (this.splinteredAt(linear)) this.clearL1();
    }
    const vpn = Math.floor(linear / 0x1000);
    const j = (vpn & this.l1Mask) * L1_STRIDE;
    for (let k = 0; k < 4; k++) {
      const array = this.l1[k]!;
      if (array[j] === vpn) {
        array[j] = Number.NaN;
        array[j + 2] = Number.NaN;
        this.l1Linear[k]![j / L1_STRIDE] = Number.NaN;
      }
    }
    for (let code = SIZE_4K; code <= SIZE_1G; code++) {
      const array = this.arrayFor(code);
      const pageNumber = Math.floor(linear / PAGE_SIZES[code]!);
      const i = (pageNumber & array.mask) * STRIDE;
      if (array.e[i] === pageNumber) array.e[i] = Number.NaN;
    }
  }

  /** Drops non-global entries (a CR3 reload with CR4.PGE on), or every entry when `includeGlobal`. */
  flush(includeGlobal: boolean): void {
    this.nonGlobalGen++;
    if (includeGlobal) this.globalGen++;
    this.clearL1();
    this.clearPde();
    this.flushes++;
  }

  /** The valid entries, 4 KiB ones first, for dumps (`info tlb`). */
  entries(): TlbEntryView[] {
    const out: TlbEntryView[] = [];
    for (let code = SIZE_4K; code <= SIZE_1G; code++) {
      const array = this.arrayFor(code);
      for (let slot = 0; slot < array.entries; slot++) {
        if (!this.valid(array, slot)) continue;
        const info = array.e[slot * STRIDE + 2]!;
        out.push({
          linear: array.e[slot * STRIDE]! * PAGE_SIZES[code]!,
          physical: array.e[slot * STRIDE + 1]!,
          pageSize: PAGE_SIZES[code]!,
          writable: (info & PERM_W) !== 0,
          user: (info & PERM_U) !== 0,
          executable: (info & PERM_X) !== 0,
          dirty: (info & PERM_D) !== 0,
          global: (info & PERM_G) !== 0,
          memoryType: (info >>> INFO_TYPE_SHIFT) & 7,
        });
      }
    }
    return out.sort((a, b) => a.linear - b.linear);
  }

  /** Zeroes hits, misses and flushes. */
  resetStats(): void {
    this.hits = 0;
    this.misses = 0;
    this.flushes = 0;
  }
}
