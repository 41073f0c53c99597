/** Bits of a granule's shadow byte. */
export const Shadow = {
  /** A live block starts here: its pointer is this granule's address + 16. */
  Live: 1,
  /** A block was handed out here once (kept after it is freed, to tell a double free from a wild pointer). */
  Handed: 2,
} as const;

/**
 * The heap's out-of-band state, like KASAN's shadow memory: one byte of {@link Shadow} bits and one owner id per
 * 16-byte granule, in JavaScript typed arrays a driver cannot reach. It says only where live blocks start, where
 * blocks were handed out and who owns them; the allocator's structure (headers, free lists, bitmaps) is in simulated
 * RAM. With it kfree can refuse a pointer that is not a live block without reading anything a driver may have
 * damaged, name the reason, and leave the heap byte-identical.
 */
export class HeapShadow {
  /** {@link Shadow} bits per granule. */
  flags: Uint8Array;
  /** Owner id of the live block starting at each granule (meaningful where {@link Shadow.Live} is set). */
  owners: Int32Array;

  constructor(granules = 4096) {
    this.flags = new Uint8Array(granules);
    this.owners = new Int32Array(granules);
  }

  /** Granules covered. */
  get capacity(): number {
    return this.flags.length;
  }

  /** Makes room for `granules` granules; what was there is kept. */
  ensureCapacity(granules: number): void {
    let capacity = this.capacity;
    if (granules <= capacity) return;
    while (capacity < granules) capacity *= 2;
    const flags = new Uint8Array(capacity);
    flags.set(this.flags);
    const owners = new Int32Array(capacity);
    owners.set(this.owners);
    this.flags = flags;
    this.owners = owners;
  }

  /** True when a live block starts at granule `granule`. */
  isLive(granule: number): boolean {
    return granule >= 0 && granule < this.flags.length && (this.flags[granule]! & Shadow.Live) !== 0;
  }

  /** The nearest granule below `granule` where a live block starts, or -1 (down to `floor`). */
  liveBefore(granule: number, floor: number): number {
    const flags = this.flags;
    for (let g = Math.min(granule, flags.length) - 1; g >= floor; g--) if ((flags[g]! & Shadow.Live) !== 0) return g;
    return -1;
  }
}
