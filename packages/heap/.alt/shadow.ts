import { KERNEL_OWNER } from "@ksim/core";

/**
 * The heap's out-of-band state, like KASAN's shadow memory, in JavaScript typed arrays a driver cannot reach:
 * per 16-byte granule, a "live" bit (a live block starts here), a "handed" bit (a block was handed out here once,
 * kept after it is freed), an "owned" bit (the live block there belongs to someone other than the kernel, owner 0)
 * and that owner's id. That is all: the allocator's structure (headers, free lists, bitmaps) is in simulated RAM.
 *
 * With it kfree refuses a pointer that is not a live block without reading anything a driver may have damaged,
 * names the reason (a double free is told from a wild pointer even after the memory was merged or reused), and
 * leaves the heap byte-identical; owner tags take no room in the header. The bits of 32 granules share four words
 * (`bits[4k]` live, `bits[4k + 1]` handed, `bits[4k + 2]` owned), a bitmap of 1/32 of the heap's size that stays in
 * the host's caches; the owner array (4 bytes per granule) is touched only for blocks of an owner other than the
 * kernel, so the kernel's own allocations cost no cache miss there.
 */
export class HeapShadow {
  /** Live, handed and owned bits, interleaved per 32 granules (four words, the fourth unused). */
  bits: Int32Array;
  /** Owner id of the live block starting at each granule (meaningful where its live and owned bits are set). */
  owners: Int32Array;

  constructor(granules = 4096) {
    this.bits = new Int32Array(Math.ceil(granules / 32) * 4);
    this.owners = new Int32Array(granules);
  }

  /** Granules covered. */
  get capacity(): number {
    return this.owners.length;
  }

  /** Makes room for `granules` granules; what was there is kept. */
  ensureCapacity(granules: number): void {
    let capacity = this.capacity;
    if (granules <= capacity) return;
    while (capacity < granules) capacity *= 2;
    const bits = new Int32Array(Math.ceil(capacity / 32) * 4);
    bits.set(this.bits);
    const owners = new Int32Array(capacity);
    owners.set(this.owners);
    this.bits = bits;
    this.owners = owners;
  }

  /** Marks granule `granule` as the start of a live block of `owner` (and as handed out). */
  setLive(granule: number, owner: number): void {
    const at = (granule >>> 5) << 2;
    const bit = 1 << (granule & 31);
    const bits = this.bits;
    bits[at] = bits[at]! | bit;
    bits[at + 1] = bits[at + 1]! | bit;
    if (owner === KERNEL_OWNER) bits[at + 2] = bits[at + 2]! & ~bit;
    else {
      bits[at + 2] = bits[at + 2]! | bit;
      this.owners[granule] = owner;
    }
  }

  /** Marks the live block at `granule` freed (its handed bit stays). */
  setFreed(granule: number): void {
    const at = (granule >>> 5) << 2;
    this.bits[at] = this.bits[at]! & ~(1 << (granule & 31));
  }

  /** True when a live block starts at granule `granule` (an integer; false outside the shadow). */
  isLive(granule: number): boolean {
    return (
      granule >= 0 && granule < this.owners.length && ((this.bits[(granule >>> 5) << 2]! >>> (granule & 31)) & 1) !== 0
    );
  }

  /** True when a block was ever handed out at granule `granule` (live or freed). */
  wasHanded(granule: number): boolean {
    return (
      granule >= 0 &&
      granule < this.owners.length &&
      ((this.bits[((granule >>> 5) << 2) + 1]! >>> (granule & 31)) & 1) !== 0
    );
  }

  /** The owner of the live block at `granule` (0, the kernel, unless its owned bit is set). */
  ownerOf(granule: number): number {
    return ((this.bits[((granule >>> 5) << 2) + 2]! >>> (granule & 31)) & 1) !== 0
      ? this.owners[granule]!
      : KERNEL_OWNER;
  }

  /** The nearest granule below `granule` where a live block starts, or -1 (down to `floor`). */
  liveBefore(granule: number, floor: number): number {
    for (let g = Math.min(granule, this.capacity) - 1; g >= floor; g--) if (this.isLive(g)) return g;
    return -1;
  }
}
