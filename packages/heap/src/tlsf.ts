/**
 * The allocator's bookkeeping: a TLSF (two-level segregated fit) index over the heap's blocks, held in typed arrays
 * indexed by granule. A block's fields sit together in one 16-byte record (`meta`, four int32 per granule) so that
 * touching a block costs one cache line, not one per field. This is the authoritative copy of the heap's structure; the headers the heap writes into
 * simulated RAM are a checked mirror of it (see `header.ts`). Nothing here touches simulated memory.
 *
 * Units are granules of 16 bytes: every block starts on a granule and spans a whole number of them. A block is one
 * header granule followed by its payload. Blocks tile `[0, top)` with no gaps; no two free blocks are neighbours
 * (they are merged at once); every free block sits in the free list of its size class.
 *
 * Size classes (TLSF, Masmano et al. 2004): sizes below 64 granules have a class each; above, each power of two is
 * split into 32 classes, so a class never spans more than 1/32 of its sizes and the search stays O(1) through two
 * bitmaps.
 */

/** Bytes per granule: the heap's alignment and the unit of block sizes. */
export const GRANULE = 16;
export const GRANULE_SHIFT = 4;
/** The smallest block: a header granule and one payload granule. */
export const MIN_BLOCK = 2;
/** The largest extent the index can describe, in granules (4 GiB): record offsets stay small integers. */
export const MAX_GRANULES = 2 ** 28;

const SL_SHIFT = 5;
const SL_COUNT = 1 << SL_SHIFT;
/** First-level classes: fl = floor(log2 size) - 4 for sizes of 32 granules and more, up to 2^30 granules. */
const FL_COUNT = 27;

/** Per-granule state bits. */
export const Flag = {
  /** A live block starts here. */
  Live: 1,
  /** A free block starts here. */
  Free: 2,
  /** A block handed out by the allocator once started here (kept after it is freed, to name double frees). */
  Handed: 4,
} as const;

/** The size class of a block of `size` granules: `fl * 32 + sl`. */
export function sizeClass(size: number): number {
  if (size < SL_COUNT) return size;
  const log = 31 - Math.clz32(size);
  return ((log - 4) << SL_SHIFT) | ((size >>> (log - SL_SHIFT)) & (SL_COUNT - 1));
}

/** The smallest size in class `index`, in granules. */
export function classMinimum(index: number): number {
  const fl = index >>> SL_SHIFT;
  const sl = index & (SL_COUNT - 1);
  if (fl <= 1) return index;
  return (SL_COUNT + sl) << (fl - 1);
}

/** Number of size classes. */
export const CLASS_COUNT = FL_COUNT * SL_COUNT;

function lowestBit(bits: number): number {
  return 31 - Math.clz32(bits & -bits);
}

// Fields of a block's record in `meta`, at `granule * 4`. The first word packs the size (low 29 bits) with the
// {@link Flag} bits (top three), so checking a neighbour costs one load. A free block uses the free-list links; a live
// block keeps its owner and slack in the same two words.
// The heap's hot paths read a live block's record directly through the exported offsets and masks.
const SIZE = 0;
const FLAG_SHIFT = 29;
/** Mask of the size (in granules) in a record's first word. */
export const SIZE_MASK = (1 << FLAG_SHIFT) - 1;
/** {@link Flag.Live} as it sits in a record's first word. */
export const LIVE_BIT = Flag.Live << FLAG_SHIFT;
const FREE_BIT = Flag.Free << FLAG_SHIFT;
const HANDED_BIT = Flag.Handed << FLAG_SHIFT;
const PREV_PHYS = 1;
const NEXT_FREE = 2;
const PREV_FREE = 3;
/** Offset of a live block's owner id in its record. */
export const OWNER = 2;
/** Offset of a live block's slack (payload bytes beyond the request) in its record. */
export const SLACK = 3;

/** The TLSF index and the per-block mirror. Methods trust their arguments: the heap validates at its edge. */
export class TlsfIndex {
  /**
   * Block records, four int32 per granule, meaningful at block starts: size in granules (0 elsewhere) with the
   * granule's {@link Flag} bits, start of the physically preceding block (-1 for the first), then next/previous free
   * block (free blocks) or owner id and slack, the payload bytes beyond the request (live blocks).
   */
  meta: Int32Array;

  /** Free-list heads per size class, -1 when empty. */
  private readonly heads = new Int32Array(CLASS_COUNT).fill(-1);
  private readonly slMaps = new Int32Array(FL_COUNT);
  private flMap = 0;

  /** End of the heap extent, in granules. */
  top = 0;
  /** Start of the physically last block, -1 when the heap is empty. */
  last = -1;
  freeGranules = 0;
  freeBlocks = 0;

  constructor(capacity = 4096) {
    this.meta = new Int32Array(capacity * 4);
  }

  /** Granules the records cover. */
  get capacity(): number {
    return this.meta.length / 4;
  }

  /** Makes room in the per-granule arrays for an extent of `granules`. */
  ensureCapacity(granules: number): void {
    let capacity = this.capacity;
    if (granules <= capacity) return;
    while (capacity < granules) capacity *= 2;
    const meta = new Int32Array(capacity * 4);
    meta.set(this.meta);
    this.meta = meta;
  }

  /** Size in granules of the block starting at `block` (0 when no block starts there). */
  sizeOf(block: number): number {
    return this.meta[block * 4 + SIZE]! & SIZE_MASK;
  }

  /** {@link Flag} bits of granule `granule` (an integer below {@link capacity}). */
  flagsOf(granule: number): number {
    return this.meta[granule * 4 + SIZE]! >>> FLAG_SHIFT;
  }

  /** Start of the block physically before `block`, or -1. */
  prevOf(block: number): number {
    return this.meta[block * 4 + PREV_PHYS]!;
  }

  /** Next block in the same free list, or -1. */
  nextFreeOf(block: number): number {
    return this.meta[block * 4 + NEXT_FREE]!;
  }

  /** Previous block in the same free list, or -1. */
  prevFreeOf(block: number): number {
    return this.meta[block * 4 + PREV_FREE]!;
  }

  /** Owner id of live block `block`. */
  ownerOf(block: number): number {
    return this.meta[block * 4 + OWNER]!;
  }

  /** Payload bytes of live block `block` beyond what was asked for. */
  slackOf(block: number): number {
    return this.meta[block * 4 + SLACK]!;
  }

  /** Tags live block `block` with its owner and slack. */
  setLive(block: number, owner: number, slack: number): void {
    const at = block * 4;
    this.meta[at + OWNER] = owner;
    this.meta[at + SLACK] = slack;
  }

  /** Sets the slack of live block `block` (after a resize). */
  setSlack(block: number, slack: number): void {
    this.meta[block * 4 + SLACK] = slack;
  }

  /**
   * A free block of at least `size` granules, or -1. Good fit: the head of the exact class if it is large enough,
   * else the first block of the next non-empty class whose every block fits.
   */
  findFit(size: number): number {
    const exact = sizeClass(size);
    const head = this.heads[exact]!;
    if (head >= 0 && (this.meta[head * 4 + SIZE]! & SIZE_MASK) >= size) return head;
    let index = exact + 1;
    if (size >= SL_COUNT) {
      // Classes above the linear range hold a span of sizes: round up so that any block of the class fits.
      const log = 31 - Math.clz32(size);
      index = sizeClass(size + (1 << (log - SL_SHIFT)) - 1);
      if (index === exact) index++;
    }
    if (index >= CLASS_COUNT) return -1;
    let fl = index >>> SL_SHIFT;
    let slBits = this.slMaps[fl]! & (-1 << (index & (SL_COUNT - 1)));
    if (slBits === 0) {
      const flBits = fl + 1 < FL_COUNT ? this.flMap & (-1 << (fl + 1)) : 0;
      if (flBits === 0) return -1;
      fl = lowestBit(flBits);
      slBits = this.slMaps[fl]!;
    }
    return this.heads[(fl << SL_SHIFT) | lowestBit(slBits)]!;
  }

  /**
   * Turns free block `start` into a live block of `size` granules whose first `front` granules (0, or at least
   * MIN_BLOCK) are split off as a free block first; what is left beyond `size` goes back as a free block.
   * Returns the live block's start.
   */
  take(start: number, size: number, front = 0): number {
    if (front === 0) {
      this.takeLive(start, size, 0, 0);
      return start;
    }
    this.unlink(start);
    const block = start + front;
    const rest = this.sizeOf(start) - front;
    this.setSize(start, front);
    this.setSize(block, rest);
    this.meta[block * 4 + PREV_PHYS] = start;
    this.linkAfter(block, rest);
    this.insert(start);
    this.splitTail(block, size);
    this.markLive(block);
    return block;
  }

  /**
   * The allocation hot path: turns free block `start` into a live block of `size` granules (the rest goes back as
   * a free block) tagged with `owner` and `slack`. Returns the live block's size in granules (`size`, or a little
   * more when the rest is too small to be a block).
   */
  takeLive(start: number, size: number, owner: number, slack: number): number {
    this.unlink(start);
    this.splitTail(start, size);
    const meta = this.meta;
    const at = start * 4;
    const word = meta[at]! & SIZE_MASK;
    meta[at] = word | LIVE_BIT | HANDED_BIT;
    meta[at + OWNER] = owner;
    meta[at + SLACK] = slack + (word - size) * GRANULE;
    return word;
  }

  private markLive(block: number): void {
    const at = block * 4 + SIZE;
    this.meta[at] = (this.meta[at]! & SIZE_MASK) | LIVE_BIT | HANDED_BIT;
  }

  /** Frees live block `start`, merging it with free neighbours. Returns the start of the resulting free block. */
  release(start: number): number {
    // Written out with direct record stores: this runs on every kfree.
    const meta = this.meta;
    const top = this.top;
    const at = start * 4;
    let size = meta[at]! & SIZE_MASK;
    const next = start + size;
    if (next < top) {
      const word = meta[next * 4]!;
      if ((word & FREE_BIT) !== 0) {
        this.unlink(next);
        size += word & SIZE_MASK;
        meta[next * 4] = word & HANDED_BIT;
      }
    }
    let block = start;
    // The start granule's history bit: set for `start` (it was handed out), prev's own otherwise.
    let handed = HANDED_BIT;
    const prev = meta[at + PREV_PHYS]!;
    if (prev >= 0 && (meta[prev * 4]! & FREE_BIT) !== 0) {
      this.unlink(prev);
      const word = meta[prev * 4]!;
      size += word & SIZE_MASK;
      handed = word & HANDED_BIT;
      meta[at] = HANDED_BIT;
      block = prev;
    }
    meta[block * 4] = size | handed;
    const end = block + size;
    if (end < top) meta[end * 4 + PREV_PHYS] = block;
    else this.last = block;
    this.insert(block);
    return block;
  }

  /** Shrinks live block `start` to `size` granules, freeing the tail when it can form a block. */
  shrink(start: number, size: number): void {
    this.splitTail(start, size);
  }

  /** The free block right after block `start`, or -1. */
  freeNeighbour(start: number): number {
    const next = start + this.sizeOf(start);
    return next < this.top && (this.meta[next * 4 + SIZE]! & FREE_BIT) !== 0 ? next : -1;
  }

  /**
   * Grows live block `start` to `size` granules in place by absorbing the free block after it, when that is
   * enough. Returns false (and changes nothing) otherwise.
   */
  growInPlace(start: number, size: number): boolean {
    const next = this.freeNeighbour(start);
    if (next < 0) return false;
    const merged = this.sizeOf(start) + this.sizeOf(next);
    if (merged < size) return false;
    this.unlink(next);
    this.forget(next);
    this.setSize(start, merged);
    this.linkAfter(start, merged);
    this.splitTail(start, size);
    return true;
  }

  /** Adds `[top, newTop)` to the heap as free space (merged into the last block when that is free). */
  extendTop(newTop: number): void {
    const last = this.freeTail();
    if (last >= 0) {
      this.unlink(last);
      this.top = newTop;
      this.setSize(last, newTop - last);
      this.insert(last);
      return;
    }
    const block = this.top;
    this.setSize(block, newTop - block);
    this.meta[block * 4 + PREV_PHYS] = this.last;
    this.top = newTop;
    this.last = block;
    this.insert(block);
  }

  /** Start of the last block when it is free, else -1. */
  freeTail(): number {
    const last = this.last;
    return last >= 0 && (this.meta[last * 4 + SIZE]! & FREE_BIT) !== 0 ? last : -1;
  }

  /**
   * Gives back `[newTop, top)`, which must lie inside the free last block; `newTop` is its start (the block goes)
   * or leaves it at least MIN_BLOCK granules.
   */
  shrinkTop(newTop: number): void {
    const last = this.last;
    this.unlink(last);
    if (newTop === last) {
      this.forget(last);
      this.last = this.meta[last * 4 + PREV_PHYS]!;
    } else {
      this.setSize(last, newTop - last);
      this.insert(last);
    }
    this.top = newTop;
  }

  /** The start of the block containing `granule` (live or free), or -1 when it is outside the extent. */
  blockContaining(granule: number): number {
    if (granule < 0 || granule >= this.top) return -1;
    for (let g = granule; g >= 0; g--) {
      const size = this.sizeOf(g);
      if (size > 0 && (this.flagsOf(g) & (Flag.Live | Flag.Free)) !== 0) {
        return g + size > granule ? g : -1;
      }
    }
    return -1;
  }

  /** Head of the free list of class `index` (for checks and reports). */
  head(index: number): number {
    return this.heads[index]!;
  }

  /** True when the bitmaps say class `index` is non-empty (for checks). */
  classMarked(index: number): boolean {
    const fl = index >>> SL_SHIFT;
    const slSet = (this.slMaps[fl]! & (1 << (index & (SL_COUNT - 1)))) !== 0;
    const flSet = (this.flMap & (1 << fl)) !== 0;
    return slSet && flSet;
  }

  /** True when the first-level bit of `fl` is set exactly when its second-level map is non-empty (for checks). */
  levelConsistent(fl: number): boolean {
    return (this.slMaps[fl]! !== 0) === ((this.flMap & (1 << fl)) !== 0);
  }

  /** Number of first-level classes. */
  get firstLevels(): number {
    return FL_COUNT;
  }

  /** Splits `[start + size, end)` off live-or-unlinked block `start` as a free block, merged with a free successor. */
  private splitTail(start: number, size: number): void {
    const meta = this.meta;
    const word = meta[start * 4]!;
    const rest = (word & SIZE_MASK) - size;
    if (rest < MIN_BLOCK) return;
    const tail = start + size;
    meta[start * 4] = (word & ~SIZE_MASK) | size;
    meta[tail * 4 + PREV_PHYS] = start;
    let tailSize = rest;
    const next = tail + rest;
    const top = this.top;
    if (next < top) {
      const nextWord = meta[next * 4]!;
      if ((nextWord & FREE_BIT) !== 0) {
        this.unlink(next);
        tailSize += nextWord & SIZE_MASK;
        meta[next * 4] = nextWord & HANDED_BIT;
      }
    }
    // The tail keeps the history bit of whatever block once started there.
    meta[tail * 4] = (meta[tail * 4]! & HANDED_BIT) | tailSize;
    const end = tail + tailSize;
    if (end < top) meta[end * 4 + PREV_PHYS] = tail;
    else this.last = tail;
    this.insert(tail);
  }

  /** Sets the size of the block at `block`, keeping its flag bits. */
  private setSize(block: number, size: number): void {
    const at = block * 4 + SIZE;
    this.meta[at] = (this.meta[at]! & ~SIZE_MASK) | size;
  }

  /** Points the successor of block `start` (size `size`) back at it, or makes `start` the last block. */
  private linkAfter(start: number, size: number): void {
    const next = start + size;
    if (next < this.top) this.meta[next * 4 + PREV_PHYS] = start;
    else this.last = start;
  }

  /** Clears a block start that was merged into a neighbour, keeping its history bit. */
  private forget(start: number): void {
    this.meta[start * 4 + SIZE]! &= HANDED_BIT;
  }

  private insert(block: number): void {
    const meta = this.meta;
    const at = block * 4;
    const word = meta[at + SIZE]!;
    const size = word & SIZE_MASK;
    const index = sizeClass(size);
    const head = this.heads[index]!;
    meta[at + SIZE] = (word & (SIZE_MASK | HANDED_BIT)) | FREE_BIT;
    meta[at + NEXT_FREE] = head;
    meta[at + PREV_FREE] = -1;
    if (head >= 0) meta[head * 4 + PREV_FREE] = block;
    this.heads[index] = block;
    const fl = index >>> SL_SHIFT;
    this.slMaps[fl]! |= 1 << (index & (SL_COUNT - 1));
    this.flMap |= 1 << fl;
    this.freeGranules += size;
    this.freeBlocks++;
  }

  private unlink(block: number): void {
    const meta = this.meta;
    const at = block * 4;
    const size = meta[at + SIZE]! & SIZE_MASK;
    const prev = meta[at + PREV_FREE]!;
    const next = meta[at + NEXT_FREE]!;
    if (prev >= 0) {
      meta[prev * 4 + NEXT_FREE] = next;
    } else {
      const index = sizeClass(size);
      this.heads[index] = next;
      if (next < 0) {
        const fl = index >>> SL_SHIFT;
        const bits = this.slMaps[fl]! & ~(1 << (index & (SL_COUNT - 1)));
        this.slMaps[fl] = bits;
        if (bits === 0) this.flMap &= ~(1 << fl);
      }
    }
    if (next >= 0) meta[next * 4 + PREV_FREE] = prev;
    this.freeGranules -= size;
    this.freeBlocks--;
  }
}
