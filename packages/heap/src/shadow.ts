/**
 * The heap's out-of-band state, like KASAN's shadow memory, in JavaScript typed arrays a driver cannot reach:
 *
 * - `live`: one bit per 16-byte granule of the used window, set where a live block's user pointer is;
 * - `given`: the same, set where a block was handed out since its slab was made, and kept when the block is freed
 *   and when its slab goes back to the frame allocator, so that a second free is named "Multiple free" and a free
 *   of a slot no block ever had is named "Invalid free";
 * - `kinds`: one byte per page of the window: 0 for a page that is neither a slab's nor a large block's, `c + 1`
 *   for a page of a slab of class `c`, {@link LARGE_KIND} for a page of a large block.
 *
 * Why: kfree must refuse a pointer that is not a live block (wild, interior, already freed, another heap's) without
 * reading anything a driver may have damaged or that may not be mapped, so that the panic leaves the heap
 * byte-identical and never faults; and the allocator must never follow a damaged free-list link onto an unmapped
 * page or into the middle of an object. Everything else (list heads, links, headers, sizes, owners, slab in-use
 * counts) is bytes in simulated RAM and is checked when read.
 */
export class HeapShadow {
  /** Live-start bits, 32 granules (512 bytes of window) per word. */
  live = new Uint32Array(4096 * 8);
  /** Handed-out bits, laid out as `live`. */
  given = new Uint32Array(4096 * 8);
  /** Page kinds, one byte per window page. */
  kinds = new Uint8Array(4096);

  /** Makes room for a used window of `pages` pages; what was there is kept. */
  grow(pages: number): void {
    if (pages > this.kinds.length) {
      let length = this.kinds.length;
      while (length < pages) length *= 2;
      const kinds = new Uint8Array(length);
      kinds.set(this.kinds);
      this.kinds = kinds;
      const live = new Uint32Array(length * 8);
      live.set(this.live);
      this.live = live;
      const given = new Uint32Array(length * 8);
      given.set(this.given);
      this.given = given;
    }
  }

  /** Whether a live block's user pointer is at window offset `offset` (a multiple of 16 below the used window). */
  isLive(offset: number): boolean {
    return ((this.live[offset >>> 9]! >>> ((offset >>> 4) & 31)) & 1) !== 0;
  }

  /** Marks a block handed out at `offset`: live, and remembered as given. */
  setLive(offset: number): void {
    const bit = 1 << ((offset >>> 4) & 31);
    this.live[offset >>> 9]! |= bit;
    this.given[offset >>> 9]! |= bit;
  }

  /** Whether a block was handed out at `offset` since the slab or large block there was made. */
  wasGiven(offset: number): boolean {
    return ((this.given[offset >>> 9]! >>> ((offset >>> 4) & 31)) & 1) !== 0;
  }

  /** Forgets the handed-out history of pages `[page, page + count)` (new slab or large block there). */
  forgetGiven(page: number, count: number): void {
    this.given.fill(0, page * 8, (page + count) * 8);
  }

  clearLive(offset: number): void {
    this.live[offset >>> 9]! &= ~(1 << ((offset >>> 4) & 31));
  }

  /** The first live user pointer in `[from, to)` (offsets, multiples of 512 at both ends are fastest), or -1. */
  firstLive(from: number, to: number): number {
    for (let offset = from; offset < to; offset += 16) {
      if ((offset & 511) === 0 && this.live[offset >>> 9] === 0 && offset + 512 <= to) {
        offset += 512 - 16;
        continue;
      }
      if (this.isLive(offset)) return offset;
    }
    return -1;
  }

  /** Calls `visit` with every live user pointer's offset below `to`, in address order. */
  forEachLive(to: number, visit: (offset: number) => void): void {
    const words = Math.min(this.live.length, Math.ceil(to / 512));
    for (let w = 0; w < words; w++) {
      let bits = this.live[w]!;
      while (bits !== 0) {
        const bit = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        visit(w * 512 + bit * 16);
      }
    }
  }

  /** Sets the kind of pages `[page, page + count)`. */
  setKind(page: number, count: number, kind: number): void {
    this.kinds.fill(kind, page, page + count);
  }
}

/** `kinds` value of a large block's pages. */
export const LARGE_KIND = 255;
