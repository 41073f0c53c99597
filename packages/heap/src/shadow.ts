/** Values of a granule's shadow cell below {@link Shadow.Live}. */
export const Shadow = {
  /** No block was ever handed out here. */
  Never: 0,
  /** A block was handed out here and freed (kept, to tell a double free from a wild pointer). */
  Freed: 1,
  /** A live block starts here; the cell is `Live + owner id`. */
  Live: 2,
} as const;

/**
 * The heap's out-of-band state, like KASAN's shadow memory: one 32-bit cell per 16-byte granule, in a JavaScript
 * typed array a driver cannot reach. A cell says whether a live block starts at the granule, and whose it is
 * (`Shadow.Live + owner`), or whether a block was handed out there once (`Shadow.Freed`). That is all: the
 * allocator's structure (headers, free lists, bitmaps) is in simulated RAM. With it kfree can refuse a pointer that
 * is not a live block without reading anything a driver may have damaged, name the reason, and leave the heap
 * byte-identical; and owner tags cost one store per kmalloc, with no room taken in the header.
 */
export class HeapShadow {
  /** One cell per granule (see {@link Shadow}). */
  cells: Uint32Array;

  constructor(granules = 4096) {
    this.cells = new Uint32Array(granules);
  }

  /** Granules covered. */
  get capacity(): number {
    return this.cells.length;
  }

  /** Makes room for `granules` granules; what was there is kept. */
  ensureCapacity(granules: number): void {
    let capacity = this.capacity;
    if (granules <= capacity) return;
    while (capacity < granules) capacity *= 2;
    const cells = new Uint32Array(capacity);
    cells.set(this.cells);
    this.cells = cells;
  }

  /** True when a live block starts at granule `granule`. */
  isLive(granule: number): boolean {
    return granule >= 0 && granule < this.cells.length && this.cells[granule]! >= Shadow.Live;
  }

  /** True when a block was ever handed out at granule `granule` (live or freed). */
  wasHanded(granule: number): boolean {
    return granule >= 0 && granule < this.cells.length && this.cells[granule]! !== Shadow.Never;
  }

  /** The owner of the live block at `granule`. */
  ownerOf(granule: number): number {
    return this.cells[granule]! - Shadow.Live;
  }

  /** The nearest granule below `granule` where a live block starts, or -1 (down to `floor`). */
  liveBefore(granule: number, floor: number): number {
    const cells = this.cells;
    for (let g = Math.min(granule, cells.length) - 1; g >= floor; g--) if (cells[g]! >= Shadow.Live) return g;
    return -1;
  }
}
