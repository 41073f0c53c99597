import { LevelBitmap } from "./level-bitmap.js";
import { ZONE_COUNT, zoneEnd, zoneOf, zoneStart } from "./zones.js";

/** The most free blocks the stretch search examines before it reports no fit. */
export const MAX_STRETCH_SEEDS = 1 << 16;

/**
 * Free memory as a binary buddy system: naturally aligned blocks of 2^k frames, k = 0..maxOrder.
 *
 * Each order has a {@link LevelBitmap} with one bit per possible block: set means "this block is free, whole, and
 * not part of a larger free block". Blocks are kept maximally coalesced (no two free buddies of the same order), so
 * the set of blocks is a function of the set of free frames: freeing everything gives back exactly the initial
 * bitmaps. Per-(zone, order) block counts say in O(1) which order to search; the counters live in typed arrays so a
 * snapshot covers them.
 *
 * Frames are numbers below 2^30, so shifts and masks on them are exact 32-bit integer operations.
 */
export class BuddyLists {
  readonly maxOrder: number;
  /** One past the highest frame a block may cover. */
  readonly frameLimit: number;
  readonly bitmaps: LevelBitmap[] = [];
  /** Free blocks per (zone, order): zoneBlocks[zone * (maxOrder + 1) + order]. */
  readonly zoneBlocks: Int32Array;
  /** counters[0]: frames in free blocks. */
  readonly counters = new Float64Array(1);
  /** How many frames the last {@link takeSmallest} took. */
  lastTaken = 0;

  constructor(frameLimit: number, maxOrder: number) {
    this.frameLimit = frameLimit;
    this.maxOrder = maxOrder;
    for (let k = 0; k <= maxOrder; k++) this.bitmaps.push(new LevelBitmap(Math.ceil(frameLimit / 2 ** k)));
    this.zoneBlocks = new Int32Array(ZONE_COUNT * (maxOrder + 1));
  }

  /** Frames in free blocks. */
  get freeFrames(): number {
    return this.counters[0]!;
  }

  /** Bytes of typed-array storage. */
  get byteLength(): number {
    let n = this.zoneBlocks.byteLength + this.counters.byteLength;
    for (const b of this.bitmaps) n += b.byteLength;
    return n;
  }

  /** Records the free block of 2^order frames at `start` (which must be aligned and not free). */
  insertBlock(start: number, order: number): void {
    this.bitmaps[order]!.set(start >>> order);
    this.zoneBlocks[zoneOf(start) * (this.maxOrder + 1) + order]!++;
    this.counters[0]! += 1 << order;
  }

  /** Takes the free block of 2^order frames at `start` out of the lists. */
  removeBlock(start: number, order: number): void {
    this.bitmaps[order]!.clear(start >>> order);
    this.zoneBlocks[zoneOf(start) * (this.maxOrder + 1) + order]!--;
    this.counters[0]! -= 1 << order;
  }

  /** Frees one block, merging it with its buddy for as long as the buddy is a free block of the same order. */
  freeBlock(start: number, order: number): void {
    let s = start;
    let k = order;
    while (k < this.maxOrder) {
      const buddy = s ^ (1 << k);
      if (!this.bitmaps[k]!.test(buddy >>> k)) break;
      this.removeBlock(buddy, k);
      s &= ~(1 << k);
      k++;
    }
    this.insertBlock(s, k);
  }

  /** Frees [start, end) as its maximal aligned blocks, each coalesced with its neighbours. */
  freeRange(start: number, end: number): void {
    let p = start;
    while (p < end) {
      const k = this.largestBlock(p, end);
      this.freeBlock(p, k);
      p += 2 ** k;
    }
  }

  /** Inserts [start, end) as its maximal aligned blocks without merging (for pieces split off one free block). */
  insertRange(start: number, end: number): void {
    let p = start;
    while (p < end) {
      const k = this.largestBlock(p, end);
      this.insertBlock(p, k);
      p += 2 ** k;
    }
  }

  /** The largest order of a block that starts at `p`, is aligned, and ends at or before `end`. */
  largestBlock(p: number, end: number): number {
    const alignOrder = p === 0 ? 31 : 31 - Math.clz32(p & -p);
    const sizeOrder = 31 - Math.clz32(end - p);
    return Math.min(alignOrder, sizeOrder, this.maxOrder);
  }

  /**
   * Removes `count` frames (a block of order `order` aligned start) ending at or below `limitFrame` from the buddy
   * lists, highest zone and smallest order first; returns the first frame, or -1 (nothing changed).
   */
  takeRun(count: number, order: number, limitFrame: number): number {
    const orders = this.maxOrder + 1;
    for (let z = ZONE_COUNT - 1; z >= 0; z--) {
      const zs = zoneStart(z);
      if (zs + count > limitFrame) continue;
      const ze = Math.min(zoneEnd(z), limitFrame);
      for (let j = order; j <= this.maxOrder; j++) {
        if (this.zoneBlocks[z * orders + j] === 0) continue;
        // Blocks whose first `count` frames end at or below the limit: index i with i * 2^j + count <= ze.
        const size = 2 ** j;
        const i = this.bitmaps[j]!.findLastBelow(Math.floor((ze - count) / size) + 1);
        if (i < 0) continue;
        const blockStart = i * size;
        if (blockStart < zs) continue;
        // The highest 2^order-aligned start inside the block that still ends at or below the limit.
        const unit = 2 ** order;
        const s = Math.min(blockStart + size - unit, Math.floor((limitFrame - count) / unit) * unit);
        this.removeBlock(blockStart, j);
        this.insertRange(blockStart, s);
        this.insertRange(s + count, blockStart + size);
        return s;
      }
    }
    return -1;
  }

  /**
   * The slow path for a run that no single free block holds (larger than the largest block, or free memory split
   * across blocks that are not buddies): like Linux's alloc_contig_range, it grows each large free block into the
   * whole stretch of adjacent free blocks around it and carves the run from the highest place that fits. Any free
   * stretch of n frames contains a free block of order at least floor(log2 n) - 1, so only those seed the search.
   * Cost O(seeds * blocks per stretch * max order); the block path above never comes here when a block fits.
   * It gives up (no-fit) after {@link MAX_STRETCH_SEEDS} seeds, so a request in memory fragmented into millions of
   * isolated frames costs at most about 20 ms instead of a walk over all of them.
   */
  takeStretch(count: number, alignFrames: number, limitFrame: number): number {
    const minOrder = Math.max(0, Math.min(this.maxOrder, Math.floor(Math.log2(count)) - 1));
    let budget = MAX_STRETCH_SEEDS;
    for (let j = this.maxOrder; j >= minOrder; j--) {
      const size = 2 ** j;
      const bitmap = this.bitmaps[j]!;
      let i = bitmap.findLastBelow(Math.ceil(limitFrame / size));
      while (i >= 0) {
        if (--budget < 0) return -1;
        let a = i * size;
        let b = a + size;
        for (let k = this.freeOrderAt(a - 1); k >= 0; k = this.freeOrderAt(a - 1))
          a = Math.floor((a - 1) / 2 ** k) * 2 ** k;
        for (let k = this.freeOrderAt(b); k >= 0; k = this.freeOrderAt(b)) b += 2 ** k;
        const s = Math.floor((Math.min(b, limitFrame) - count) / alignFrames) * alignFrames;
        if (s >= a) {
          this.carve(s, s + count);
          return s;
        }
        i = bitmap.findLastBelow(Math.floor(a / size));
      }
    }
    return -1;
  }

  /** The order of the free block holding frame `p`, or -1 when `p` is not in a free block. */
  freeOrderAt(p: number): number {
    if (p < 0 || p >= this.frameLimit) return -1;
    for (let k = 0; k <= this.maxOrder; k++) if (this.bitmaps[k]!.test(p >>> k)) return k;
    return -1;
  }

  /** Removes every free frame of [start, end) from the buddy lists, splitting the blocks that straddle it. */
  carve(start: number, end: number): void {
    let p = start;
    while (p < end) {
      let k = 0;
      while (k <= this.maxOrder && !this.bitmaps[k]!.test(p >>> k)) k++;
      if (k > this.maxOrder) {
        p++; // not in the buddy lists (a cached frame being reserved)
        continue;
      }
      const blockStart = (p >>> k) * 2 ** k;
      const blockEnd = blockStart + 2 ** k;
      this.removeBlock(blockStart, k);
      this.insertRange(blockStart, Math.max(blockStart, start));
      this.insertRange(Math.min(blockEnd, end), blockEnd);
      p = blockEnd;
    }
  }

  /**
   * Takes up to `want` frames for the frame cache from the smallest free block of the highest zone that has one
   * (the block single-frame allocations would split next): the whole block if it fits, else its highest part of the
   * largest power of two not above `want`. Returns the first frame (the count is in {@link lastTaken}), or -1.
   */
  takeSmallest(want: number): number {
    const orders = this.maxOrder + 1;
    for (let z = ZONE_COUNT - 1; z >= 0; z--) {
      for (let j = 0; j <= this.maxOrder; j++) {
        if (this.zoneBlocks[z * orders + j] === 0) continue;
        const size = 2 ** j;
        const zoneLimit = Math.min(zoneEnd(z), this.frameLimit);
        const blockStart = this.bitmaps[j]!.findLastBelow(Math.ceil(zoneLimit / size)) * size;
        const take = size <= want ? size : 2 ** (31 - Math.clz32(want));
        this.removeBlock(blockStart, j);
        const s = blockStart + size - take;
        this.insertRange(blockStart, s);
        this.lastTaken = take;
        return s;
      }
    }
    return -1;
  }

  /** Frames of [start, end) that lie in free blocks. Costs O(free blocks in the range). */
  countFree(start: number, end: number): number {
    let n = 0;
    for (let k = 0; k <= this.maxOrder; k++) {
      const size = 2 ** k;
      const bitmap = this.bitmaps[k]!;
      let i = bitmap.findLastBelow(Math.ceil(end / size));
      while (i >= 0 && (i + 1) * size > start) {
        n += Math.min(end, (i + 1) * size) - Math.max(start, i * size);
        i = bitmap.findLastBelow(i);
      }
    }
    return n;
  }
}
