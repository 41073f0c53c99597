import { HEADER_SIZE, PAGE } from "./layout.js";

/** Largest user size served from slabs; larger requests get whole pages. */
export const MAX_SLAB_SIZE = 32768;
/** Largest slab in pages. */
const MAX_SLAB_PAGES = 8;
/** A slab size within this fraction of the best tail waste counts as good (the smallest such size is used). */
const WASTE_TOLERANCE = 0.02;

/**
 * The size classes: user sizes 16, 32, ... 128 (16-byte steps), then 8 classes per power of two up to 32 KiB
 * (144, 160, ... 256, 288, ... 28672, 32768): 72 classes, so that rounding up costs at most 1/8 (12.5%) above
 * 128 bytes. A class's slot is its user size plus the 16-byte header, so every slot is a multiple of 16.
 */
export class SizeClasses {
  /** User bytes per class. */
  readonly user: Int32Array;
  /** Slot bytes (header included) per class. */
  readonly slot: Int32Array;
  /** Pages per slab per class. */
  readonly pages: Int32Array;
  /** Objects per slab per class. */
  readonly perSlab: Int32Array;
  readonly count: number;
  /** Index `(size + 15) >> 4` gives the class of a request of `size` bytes (up to {@link MAX_SLAB_SIZE}). */
  private readonly table: Uint8Array;

  constructor() {
    const users: number[] = [];
    for (let size = 16; size <= 128; size += 16) users.push(size);
    for (let power = 128; power < MAX_SLAB_SIZE; power *= 2) {
      for (let step = 1; step <= 8; step++) users.push(power + (step * power) / 8);
    }
    this.count = users.length;
    this.user = Int32Array.from(users);
    this.slot = Int32Array.from(users, (user) => user + HEADER_SIZE);
    this.pages = Int32Array.from(this.slot, slabPages);
    this.perSlab = Int32Array.from(this.slot, (slot, c) => Math.floor((this.pages[c]! * PAGE) / slot));
    this.table = new Uint8Array((MAX_SLAB_SIZE >> 4) + 1);
    let c = 0;
    for (let i = 0; i < this.table.length; i++) {
      while (users[c]! < i * 16) c++;
      this.table[i] = c;
    }
  }

  /** The class of a request of `size` bytes, 0 <= size <= {@link MAX_SLAB_SIZE}. */
  of(size: number): number {
    return this.table[(size + 15) >> 4]!;
  }

  /** `kmalloc-96`, `kmalloc-1k`, `kmalloc-1.25k`... as Linux names its caches. */
  name(c: number): string {
    const user = this.user[c]!;
    return `kmalloc-${user >= 1024 ? `${user / 1024}k` : user}`;
  }
}

/** The smallest slab of 1..8 pages (more only for a slot that needs them) whose tail waste is within 2 points of the best for a slot of `slot` bytes. */
function slabPages(slot: number): number {
  const least = Math.ceil(slot / PAGE);
  const most = Math.max(MAX_SLAB_PAGES, least);
  const waste = (pages: number) => ((pages * PAGE) % slot) / (pages * PAGE);
  let best = Number.POSITIVE_INFINITY;
  for (let pages = least; pages <= most; pages++) best = Math.min(best, waste(pages));
  let pages = least;
  while (waste(pages) > best + WASTE_TOLERANCE) pages++;
  return pages;
}
