// The TLB: cached translations in typed arrays, never a Map. A direct-mapped array of 4 KiB translations plus two
// small direct-mapped arrays for 2 MiB and 1 GiB pages (real CPUs also keep large pages in separate structures).
// Validity uses generation numbers so a CR3 reload (drop every non-global entry) costs O(1).

/** Cached permission bits of an entry: writable, user and executable at every level, and the leaf's D bit. */
export const PERM_W = 0x01;
export const PERM_U = 0x02;
export const PERM_X = 0x04;
export const PERM_D = 0x08;
/** The translation is global (G set in the leaf and CR4.PGE on). */
export const PERM_G = 0x10;
/** Bits 8..10 hold the memory type; bits 12..13 the page-size code (0: 4 KiB, 1: 2 MiB, 2: 1 GiB). */
export const INFO_TYPE_SHIFT = 8;
export const INFO_SIZE_SHIFT = 12;

export const SIZE_4K = 0;
export const SIZE_2M = 1;
export const SIZE_1G = 2;

/** One direct-mapped array of translations for pages of one size. */
export class TlbArray {
  readonly entries: number;
  readonly mask: number;
  /** Page number (linear address / page size) of each slot, -1 when empty. */
  readonly tags: Float64Array;
  /** Physical base of the cached page. */
  readonly frames: Float64Array;
  /** PERM_* bits, the memory type and the size code. */
  readonly info: Int32Array;
  /** The generation the entry was filled in: the non-global generation, or minus the global one. */
  readonly gens: Int32Array;

  constructor(entries: number) {
    this.entries = entries;
    this.mask = entries - 1;
    this.tags = new Float64Array(entries).fill(-1);
    this.frames = new Float64Array(entries);
    this.info = new Int32Array(entries);
    this.gens = new Int32Array(entries);
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

/**
 * The translation lookaside buffer. Lookups are done inline by the MMU on the typed arrays; this class owns
 * filling, invalidation and statistics.
 */
export class Tlb {
  readonly small: TlbArray;
  readonly large2m: TlbArray;
  readonly large1g: TlbArray;
  /** Generation of non-global entries; bumped by a CR3 reload. */
  nonGlobalGen = 1;
  /** Generation of global entries; bumped by a full flush. */
  globalGen = 1;
  hits = 0;
  misses = 0;
  flushes = 0;

  /** @param entries slots for 4 KiB pages (a power of two). */
  constructor(entries: number) {
    this.small = new TlbArray(entries);
    this.large2m = new TlbArray(64);
    this.large1g = new TlbArray(16);
  }

  private arrayFor(sizeCode: number): TlbArray {
    return sizeCode === SIZE_4K ? this.small : sizeCode === SIZE_2M ? this.large2m : this.large1g;
  }

  /** Caches a translation of the page `pageNumber` (in units of its size) to the physical `frame`. */
  fill(sizeCode: number, pageNumber: number, frame: number, info: number): void {
    const array = this.arrayFor(sizeCode);
    const slot = pageNumber & array.mask;
    array.tags[slot] = pageNumber;
    array.frames[slot] = frame;
    array.info[slot] = info | (sizeCode << INFO_SIZE_SHIFT);
    array.gens[slot] = info & PERM_G ? -this.globalGen : this.nonGlobalGen;
  }

  private valid(array: TlbArray, slot: number): boolean {
    const gen = array.gens[slot]!;
    return array.tags[slot]! >= 0 && (gen === this.nonGlobalGen || gen === -this.globalGen);
  }

  /** invlpg: drops every cached translation of the page (of any size) that holds `linear`. */
  invalidate(linear: number): void {
    for (let code = SIZE_4K; code <= SIZE_1G; code++) {
      const array = this.arrayFor(code);
      const pageNumber = Math.floor(linear / PAGE_SIZES[code]!);
      const slot = pageNumber & array.mask;
      if (array.tags[slot] === pageNumber) array.tags[slot] = -1;
    }
  }

  /** Drops non-global entries (a CR3 reload with CR4.PGE on), or every entry when `includeGlobal`. */
  flush(includeGlobal: boolean): void {
    this.nonGlobalGen++;
    if (includeGlobal) this.globalGen++;
    this.flushes++;
  }

  /** The valid entries, 4 KiB ones first, for dumps (`info tlb`). */
  entries(): TlbEntryView[] {
    const out: TlbEntryView[] = [];
    for (let code = SIZE_4K; code <= SIZE_1G; code++) {
      const array = this.arrayFor(code);
      for (let slot = 0; slot < array.entries; slot++) {
        if (!this.valid(array, slot)) continue;
        const info = array.info[slot]!;
        out.push({
          linear: array.tags[slot]! * PAGE_SIZES[code]!,
          physical: array.frames[slot]!,
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

  resetStats(): void {
    this.hits = 0;
    this.misses = 0;
    this.flushes = 0;
  }
}
