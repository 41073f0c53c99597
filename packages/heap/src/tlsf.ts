import type { VirtAddr, VirtualMemory } from "@ksim/core";
import {
  CLASS_COUNT,
  CONTROL_BYTES,
  CONTROL_MAGIC,
  CONTROL_MAGIC_AT,
  END_MAGIC,
  FIRST_BLOCK,
  FL_COUNT,
  FL_MAP_AT,
  FREE_BIT,
  FREE_MAGIC,
  GRANULE,
  HEADS_AT,
  LIVE_MAGIC,
  MAGIC,
  MIN_BLOCK,
  NEXT_FREE,
  PREV_FREE,
  PREV_FREE_BIT,
  PREV_PHYS,
  REQUESTED,
  SIZE_FLAGS,
  SIZE_MASK,
  SL_COUNT,
  SL_MAPS_AT,
  SL_SHIFT,
  sizeClass,
} from "./layout.js";

/**
 * Called when what the allocator reads from simulated RAM is inconsistent (a driver wrote over a header, a free
 * list link or the control block): it throws, and the allocator has written nothing for the block it names.
 */
export type CorruptionHandler = (block: number, detail: string) => never;

function lowestBit(bits: number): number {
  return 31 - Math.clz32(bits & -bits);
}

/**
 * TLSF (two-level segregated fit, Masmano et al.) whose every structure is bytes in simulated RAM, as in a real
 * kernel heap: the control block (bitmaps and free-list heads) at the window's base, a header before each block
 * (size, flags, the previous physical block), free-list links inside free blocks, and a zero-size end marker after
 * the last block (see `layout.ts`). Nothing here is kept in JavaScript but the extent (`top`, what the heap mapped)
 * and two counters.
 *
 * Every link read from RAM is range-checked before it is followed and checked against its partner (a free list
 * neighbour must point back, a block's successor must link back to it) before anything is written, so a damaged
 * structure makes the allocator call {@link CorruptionHandler} instead of faulting, looping or spreading the damage.
 * Methods trust their arguments (the heap validates pointers at its edge with its shadow).
 */
export class Tlsf {
  /** End of the mapped heap, in granules; the end marker is at `top - 1`. 0 when nothing is mapped. */
  top = 0;
  /** Granules in free blocks, headers included (a statistic kept by the allocator). */
  freeGranules = 0;
  /** Number of free blocks. */
  freeBlocks = 0;
  /** The size of the block the last {@link take}, {@link shrink} or {@link growInPlace} left live, in granules. */
  liveSize = 0;
  /** The free block {@link release} or {@link shrink} merged from after the freed range (its header is now interior), or 0. */
  mergedNext = 0;
  /** The granule after the free block the last {@link release} made (the end marker's when it is the last block). */
  freedEnd = 0;
  /** The size class whose list head the last {@link findFit} returned. */
  private fitClass = 0;

  constructor(
    private readonly memory: VirtualMemory,
    /** The window's base: granule g is at `base + g * 16`. */
    readonly base: VirtAddr,
    private readonly corrupt: CorruptionHandler,
  ) {}

  // --- reading (for the heap's checks, reports and diagnosis) -----------------------------------------------------

  /** The address of granule `granule`. */
  addressOf(granule: number): VirtAddr {
    return this.base + granule * GRANULE;
  }

  /** The 32-bit word at byte `offset` of the block (or granule) `block`. */
  word(block: number, offset: number): number {
    return this.memory.read32(this.base + block * GRANULE + offset);
  }

  /** The size word (size and flags) of block `block`. */
  sizeWord(block: number): number {
    return this.word(block, SIZE_FLAGS);
  }

  /** Head of the free list of class `index` (0 when empty). */
  head(index: number): number {
    return this.memory.read32(this.base + HEADS_AT + index * 4);
  }

  /** Second-level bitmap `fl`. */
  slMap(fl: number): number {
    return this.memory.read32(this.base + SL_MAPS_AT + fl * 4);
  }

  /** The first-level bitmap. */
  flMap(): number {
    return this.memory.read32(this.base + FL_MAP_AT);
  }

  /** The control block's magic word. */
  controlMagic(): number {
    return this.memory.read32(this.base + CONTROL_MAGIC_AT);
  }

  /** Start of the last block when it is free (the end marker says so), else 0. */
  freeTail(): number {
    if (this.top === 0) return 0;
    const end = this.top - 1;
    const at = this.base + end * GRANULE;
    const word = this.memory.read32(at + SIZE_FLAGS);
    if ((word & PREV_FREE_BIT) === 0) return 0;
    const last = this.memory.read32(at + PREV_PHYS);
    if (this.memory.read32(at + MAGIC) !== END_MAGIC || last < FIRST_BLOCK || last > end - MIN_BLOCK) {
      this.damaged(Damage.EndMarker, end, word, last);
    }
    return last;
  }

  /**
   * The start of the block containing `granule`, found by walking the blocks from the first, or -1 when the granule
   * is outside the blocks (control block, end marker, above the top) or the walk meets a damaged header. O(blocks).
   */
  blockContaining(granule: number): number {
    const end = this.top - 1;
    if (granule < FIRST_BLOCK || granule >= end) return -1;
    let block = FIRST_BLOCK;
    while (block < end) {
      const size = this.sizeWord(block) & SIZE_MASK;
      if (size < MIN_BLOCK || block + size > end) return -1;
      if (granule < block + size) return block;
      block += size;
    }
    return -1;
  }

  // --- allocation -------------------------------------------------------------------------------------------------

  /**
   * A free block of at least `size` granules, or 0 when there is none. Good fit: the head of the exact class if it
   * is large enough, else the first block of the next non-empty class whose every block fits.
   */
  findFit(size: number): number {
    if (this.top === 0) return 0;
    const memory = this.memory;
    const base = this.base;
    const exact = sizeClass(size);
    const head = memory.read32(base + HEADS_AT + exact * 4);
    // Below 64 granules a class holds one size; above, its head may be too small.
    if (head !== 0 && (size < 2 * SL_COUNT || this.fits(head, size))) {
      this.fitClass = exact;
      return head;
    }
    let index = exact + 1;
    if (size >= 2 * SL_COUNT) {
      // Round up so that any block of the class fits.
      const log = 31 - Math.clz32(size);
      index = sizeClass(size + (1 << (log - SL_SHIFT)) - 1);
      if (index === exact) index++;
    }
    if (index >= CLASS_COUNT) return 0;
    let fl = index >>> SL_SHIFT;
    let slBits = memory.read32(base + SL_MAPS_AT + fl * 4) & (-1 << (index & (SL_COUNT - 1)));
    if (slBits === 0) {
      const flBits = fl + 1 < FL_COUNT ? memory.read32(base + FL_MAP_AT) & (-1 << (fl + 1)) : 0;
      if (flBits === 0) return 0;
      fl = lowestBit(flBits);
      slBits = memory.read32(base + SL_MAPS_AT + fl * 4);
      if (slBits === 0) this.damaged(Damage.FirstLevel, 0, fl, 0);
    }
    const fitIndex = (fl << SL_SHIFT) | lowestBit(slBits);
    const found = memory.read32(base + HEADS_AT + fitIndex * 4);
    if (found === 0) this.damaged(Damage.EmptyHead, 0, fitIndex, 0);
    this.fitClass = fitIndex;
    return found;
  }

  /**
   * Turns free block `block` (the head of its list, from {@link findFit}) into a live block of `need` granules
   * whose first `front` granules (0, or at least MIN_BLOCK) stay a free block; what is left beyond `need` goes back
   * as a free block. Writes the live header with `requested`. Returns the live block's start; its size is in
   * {@link liveSize} (`need`, or one granule more when the rest is too small to be a block).
   */
  take(block: number, need: number, front: number, requested: number): number {
    const memory = this.memory;
    const base = this.base;
    this.checkLink(block, 0, LinkName.Head);
    const at = base + block * GRANULE;
    const word = memory.read32(at + SIZE_FLAGS);
    const size = word & SIZE_MASK;
    const after = block + size;
    if (
      (word & FREE_BIT) === 0 ||
      memory.read32(at + MAGIC) !== FREE_MAGIC ||
      size < need + front ||
      sizeClass(size) !== this.fitClass ||
      after > this.top - 1 ||
      memory.read32(base + after * GRANULE + PREV_PHYS) !== block
    ) {
      this.damaged(Damage.NotFree, block, word, need + front);
    }
    // The head of list `fitClass` (findFit just read it there): the list now starts at its successor.
    const next = memory.read32(at + NEXT_FREE);
    if (next !== 0) this.checkLink(next, block, LinkName.NextFree);
    memory.write32(base + HEADS_AT + this.fitClass * 4, next);
    if (next === 0) this.clearClass(this.fitClass);
    this.freeGranules -= size;
    this.freeBlocks--;
    const start = block + front;
    if (front !== 0) this.insert(block, front);
    const rest = size - front - need;
    const afterAt = base + after * GRANULE;
    let live = need;
    if (rest >= MIN_BLOCK) {
      const tail = start + need;
      memory.write32(base + tail * GRANULE + PREV_PHYS, start);
      this.insert(tail, rest);
      memory.write32(afterAt + PREV_PHYS, tail);
    } else {
      live += rest;
      memory.write32(afterAt + SIZE_FLAGS, memory.read32(afterAt + SIZE_FLAGS) & ~PREV_FREE_BIT);
      if (front !== 0) memory.write32(afterAt + PREV_PHYS, start);
    }
    const liveAt = base + start * GRANULE;
    memory.write32(liveAt + REQUESTED, requested);
    if (front !== 0) {
      memory.write32(liveAt + PREV_PHYS, block);
      memory.write32(liveAt + SIZE_FLAGS, live | PREV_FREE_BIT);
    } else {
      memory.write32(liveAt + SIZE_FLAGS, live);
    }
    memory.write32(liveAt + MAGIC, LIVE_MAGIC);
    this.liveSize = live;
    return start;
  }

  // --- freeing and resizing ---------------------------------------------------------------------------------------

  /**
   * Frees live block `block` whose size word is `word` (read and checked by the caller), merging it with free
   * neighbours. Returns the start of the resulting free block (`block`, or the free block before it); the
   * granule after it is `start + sizeOf(start)`.
   */
  release(block: number, word: number): number {
    const memory = this.memory;
    const base = this.base;
    const at = base + block * GRANULE;
    let size = word & SIZE_MASK;
    const next = block + size;
    const nextAt = base + next * GRANULE;
    const nextWord = memory.read32(nextAt + SIZE_FLAGS);
    if (memory.read32(nextAt + PREV_PHYS) !== block) this.damaged(Damage.Chain, block, size, 0);
    let prev = 0;
    let prevSize = 0;
    if ((word & PREV_FREE_BIT) !== 0) {
      prev = memory.read32(at + PREV_PHYS);
      if (prev < FIRST_BLOCK || prev > block - MIN_BLOCK) {
        this.damaged(Damage.PrevOutside, block, prev, 0);
      }
      const prevWord = memory.read32(base + prev * GRANULE + SIZE_FLAGS);
      prevSize = prevWord & SIZE_MASK;
      if (
        (prevWord & FREE_BIT) === 0 ||
        prev + prevSize !== block ||
        memory.read32(base + prev * GRANULE + MAGIC) !== FREE_MAGIC
      ) {
        this.damaged(Damage.PrevNotFree, prev, prevWord, block - prev);
      }
    }
    let end = next;
    this.mergedNext = 0;
    if ((nextWord & FREE_BIT) !== 0) {
      const nextSize = nextWord & SIZE_MASK;
      this.checkedFreeSize(next, nextWord);
      this.unlink(next, nextSize);
      size += nextSize;
      end = next + nextSize;
      this.mergedNext = next;
    }
    let start = block;
    if (prev !== 0) {
      this.unlink(prev, prevSize);
      size += prevSize;
      start = prev;
    }
    if (end === next) memory.write32(nextAt + SIZE_FLAGS, nextWord | PREV_FREE_BIT);
    if (end !== next || start !== block) memory.write32(base + end * GRANULE + PREV_PHYS, start);
    this.insert(start, size);
    this.freedEnd = end;
    return start;
  }

  /**
   * Shrinks live block `block` to `need` granules, freeing the tail (merged with a free successor) when it can form
   * a block. Leaves the new size in {@link liveSize}.
   */
  shrink(block: number, need: number): void {
    const memory = this.memory;
    const at = this.base + block * GRANULE;
    const word = memory.read32(at + SIZE_FLAGS);
    const size = word & SIZE_MASK;
    this.mergedNext = 0;
    this.liveSize = size;
    if (size - need < MIN_BLOCK) return;
    const next = block + size;
    const nextWord = this.successorWord(block, size);
    const tail = block + need;
    let tailSize = size - need;
    let end = next;
    if ((nextWord & FREE_BIT) !== 0) {
      const nextSize = this.checkedFreeSize(next, nextWord);
      this.unlink(next, nextSize);
      tailSize += nextSize;
      end = next + nextSize;
      this.mergedNext = next;
    } else {
      memory.write32(this.base + next * GRANULE + SIZE_FLAGS, nextWord | PREV_FREE_BIT);
    }
    memory.write32(this.base + end * GRANULE + PREV_PHYS, tail);
    memory.write32(this.base + tail * GRANULE + PREV_PHYS, block);
    this.insert(tail, tailSize);
    memory.write32(at + SIZE_FLAGS, need | (word & PREV_FREE_BIT));
    this.liveSize = need;
  }

  /**
   * Grows live block `block` to `need` granules in place by absorbing the free block after it, when that is enough
   * (what is left over stays free). Returns false, having written nothing, otherwise. Leaves the size in
   * {@link liveSize}.
   */
  growInPlace(block: number, need: number): boolean {
    const memory = this.memory;
    const base = this.base;
    const at = base + block * GRANULE;
    const word = memory.read32(at + SIZE_FLAGS);
    const size = word & SIZE_MASK;
    const next = block + size;
    const nextWord = this.successorWord(block, size);
    if ((nextWord & FREE_BIT) === 0 || size + (nextWord & SIZE_MASK) < need) return false;
    const nextSize = this.checkedFreeSize(next, nextWord);
    this.unlink(next, nextSize);
    const after = next + nextSize;
    const afterAt = base + after * GRANULE;
    const rest = size + nextSize - need;
    let live = need;
    if (rest >= MIN_BLOCK) {
      const tail = block + need;
      memory.write32(base + tail * GRANULE + PREV_PHYS, block);
      this.insert(tail, rest);
      memory.write32(afterAt + PREV_PHYS, tail);
    } else {
      live += rest;
      memory.write32(afterAt + SIZE_FLAGS, memory.read32(afterAt + SIZE_FLAGS) & ~PREV_FREE_BIT);
      memory.write32(afterAt + PREV_PHYS, block);
    }
    memory.write32(at + SIZE_FLAGS, live | (word & PREV_FREE_BIT));
    this.liveSize = live;
    return true;
  }

  // --- the extent -------------------------------------------------------------------------------------------------

  /**
   * Adds `[top, newTop)` (freshly mapped) to the heap as free space, merged into the last block when that is free.
   * From an empty extent, first writes the control block. Returns the start of the free block at the top.
   */
  extendTop(newTop: number): number {
    if (this.top === 0) {
      this.format(newTop);
      return FIRST_BLOCK;
    }
    const last = this.freeTail();
    const oldEnd = this.top - 1;
    let start = oldEnd;
    if (last !== 0) {
      this.unlink(last, this.checkedFreeSize(last, this.sizeWord(last), oldEnd - last));
      start = last;
    }
    // A new block at the old end marker keeps the marker's back link (the live last block).
    this.top = newTop;
    this.insert(start, newTop - 1 - start);
    this.writeEnd(newTop - 1, start, PREV_FREE_BIT);
    return start;
  }

  /**
   * Gives back `[newTop, top)`, which must lie inside the free last block: `newTop - 1` is that block's start (it
   * goes) or leaves it at least MIN_BLOCK granules. `newTop` 0 empties the heap (only when nothing is live).
   */
  shrinkTop(newTop: number): void {
    const last = this.freeTail();
    const size = this.checkedFreeSize(last, this.sizeWord(last), this.top - 1 - last);
    this.unlink(last, size);
    if (newTop === 0) {
      this.top = 0;
      return;
    }
    const end = newTop - 1;
    if (end === last) {
      this.writeEnd(end, this.word(last, PREV_PHYS), 0);
    } else {
      this.insert(last, end - last);
      this.writeEnd(end, last, PREV_FREE_BIT);
    }
    this.top = newTop;
  }

  // --- internals --------------------------------------------------------------------------------------------------

  /** Writes an empty control block and one free block over `[FIRST_BLOCK, top - 1)`, then the end marker. */
  private format(top: number): void {
    const memory = this.memory;
    memory.fill(this.base, CONTROL_BYTES, 0);
    memory.write32(this.base + CONTROL_MAGIC_AT, CONTROL_MAGIC);
    this.top = top;
    this.freeBlocks = 0;
    this.freeGranules = 0;
    memory.write32(this.addressOf(FIRST_BLOCK) + PREV_PHYS, 0);
    this.insert(FIRST_BLOCK, top - 1 - FIRST_BLOCK);
    this.writeEnd(top - 1, FIRST_BLOCK, PREV_FREE_BIT);
  }

  private writeEnd(end: number, last: number, flags: number): void {
    const memory = this.memory;
    const at = this.base + end * GRANULE;
    memory.write32(at + REQUESTED, 0);
    memory.write32(at + PREV_PHYS, last);
    memory.write32(at + SIZE_FLAGS, flags);
    memory.write32(at + MAGIC, END_MAGIC);
  }

  /**
   * Puts block `block` of `size` granules at the head of its free list (its back link to the previous physical
   * block stays; as the head, its previous-free link is not written).
   */
  private insert(block: number, size: number): void {
    const memory = this.memory;
    const base = this.base;
    const index = sizeClass(size);
    const headAt = base + HEADS_AT + index * 4;
    const head = memory.read32(headAt);
    if (head !== 0) {
      // The old head must be a free block of this class before its previous-free link (the first word of its
      // payload) is written: a damaged head slot must not make the heap write into someone's data.
      this.checkLink(head, 0, LinkName.Head);
      const headWord = memory.read32(base + head * GRANULE + SIZE_FLAGS);
      if ((headWord & FREE_BIT) === 0 || sizeClass(headWord & SIZE_MASK) !== index) {
        this.damaged(Damage.NotFree, head, headWord, 0);
      }
      memory.write32(base + head * GRANULE + PREV_FREE, block);
    } else {
      const fl = index >>> SL_SHIFT;
      const slAt = base + SL_MAPS_AT + fl * 4;
      const slBits = memory.read32(slAt);
      memory.write32(slAt, slBits | (1 << (index & (SL_COUNT - 1))));
      // A second-level map that was not empty already has its first-level bit.
      if (slBits === 0) memory.write32(base + FL_MAP_AT, memory.read32(base + FL_MAP_AT) | (1 << fl));
    }
    const at = base + block * GRANULE;
    memory.write32(at + NEXT_FREE, head);
    memory.write32(at + SIZE_FLAGS, size | FREE_BIT);
    memory.write32(at + MAGIC, FREE_MAGIC);
    memory.write32(headAt, block);
    this.freeGranules += size;
    this.freeBlocks++;
  }

  /**
   * Takes free block `block` of `size` granules out of its list. The head of a list (the control block names it) is
   * simply replaced by its successor, whose previous-free link is left as it was: a head's previous-free link is
   * never read, so popping a head touches no other block. Any other block is unlinked after checking that both
   * neighbours point back at it (safe unlinking, as Linux's list debugging and glibc do), so a damaged link is
   * reported before anything is written through it.
   */
  private unlink(block: number, size: number): void {
    const memory = this.memory;
    const base = this.base;
    const at = base + block * GRANULE;
    const next = memory.read32(at + NEXT_FREE);
    const index = sizeClass(size);
    const headAt = base + HEADS_AT + index * 4;
    if (next !== 0) this.checkLink(next, block, LinkName.NextFree);
    if (memory.read32(headAt) === block) {
      memory.write32(headAt, next);
      if (next === 0) this.clearClass(index);
    } else {
      const prev = memory.read32(at + PREV_FREE);
      this.checkLink(prev, block, LinkName.PrevFree);
      if (memory.read32(base + prev * GRANULE + NEXT_FREE) !== block) {
        this.damaged(Damage.PrevFreeLink, block, prev, 0);
      }
      if (next !== 0) {
        if (memory.read32(base + next * GRANULE + PREV_FREE) !== block) {
          this.damaged(Damage.NextFreeLink, block, next, 0);
        }
        memory.write32(base + next * GRANULE + PREV_FREE, prev);
      }
      memory.write32(base + prev * GRANULE + NEXT_FREE, next);
    }
    this.freeGranules -= size;
    this.freeBlocks--;
  }

  /** Clears the bitmap bits of size class `index`, whose list just became empty. */
  private clearClass(index: number): void {
    const memory = this.memory;
    const base = this.base;
    const fl = index >>> SL_SHIFT;
    const slAt = base + SL_MAPS_AT + fl * 4;
    const bits = memory.read32(slAt) & ~(1 << (index & (SL_COUNT - 1)));
    memory.write32(slAt, bits);
    if (bits === 0) memory.write32(base + FL_MAP_AT, memory.read32(base + FL_MAP_AT) & ~(1 << fl));
  }

  /** Corruption unless `link` is a granule where a block may start; `what` says which link it is. */
  private checkLink(link: number, from: number, what: LinkName): void {
    if (link < FIRST_BLOCK || link > this.top - 1 - MIN_BLOCK) this.damaged(Damage.LinkOutside, from, link, what);
  }

  /** The size word of the block after live block `block` (of `size` granules), checked to link back to it. */
  private successorWord(block: number, size: number): number {
    const nextAt = this.base + (block + size) * GRANULE;
    if (this.memory.read32(nextAt + PREV_PHYS) !== block) this.damaged(Damage.Chain, block, size, 0);
    return this.memory.read32(nextAt + SIZE_FLAGS);
  }

  /** The size of free block `block` whose size word is `word`, checked (magic, extent, and `expected` if given). */
  private checkedFreeSize(block: number, word: number, expected = -1): number {
    const size = word & SIZE_MASK;
    // The block after it must link back: a size word damaged but still free-looking is caught before the heap writes
    // the back link of whatever lies at `block + size`.
    if (
      (word & FREE_BIT) === 0 ||
      this.word(block, MAGIC) !== FREE_MAGIC ||
      size < MIN_BLOCK ||
      block + size > this.top - 1 ||
      (expected >= 0 && size !== expected) ||
      this.word(block + size, PREV_PHYS) !== block
    ) {
      this.damaged(Damage.NotFree, block, word, 0);
    }
    return size;
  }

  /**
   * Panics, naming the block, unless `block` (from {@link findFit}) is a free block of at least `need` granules that
   * lies inside the extent. The debug and aligned paths read a found block's memory (poison, holes) before
   * {@link take} checks it, so a damaged list head must be caught first, not followed out of the heap.
   */
  verifyFit(block: number, need: number): void {
    this.checkLink(block, 0, LinkName.Head);
    const word = this.sizeWord(block);
    if (this.checkedFreeSize(block, word) < need) this.damaged(Damage.NotFree, block, word, need);
  }

  /**
   * Panics unless the block after live block `block` links back to it and, when free, is a sound free block inside
   * the extent: krealloc's debug path reads that block's memory (poison) before {@link growInPlace} checks it.
   */
  verifyFreeSuccessor(block: number): void {
    const size = this.sizeWord(block) & SIZE_MASK;
    const nextWord = this.successorWord(block, size);
    if (nextWord & FREE_BIT) this.checkedFreeSize(block + size, nextWord);
  }

  private fits(block: number, size: number): boolean {
    this.checkLink(block, 0, LinkName.Head);
    return (this.sizeWord(block) & SIZE_MASK) >= size;
  }

  /** The cold path of every check: builds the message and calls the corruption handler. */
  private damaged(damage: Damage, block: number, a: number, b: number): never {
    let detail: string;
    switch (damage) {
      case Damage.EndMarker:
        detail = `the end marker of the heap was overwritten (size word ${hex(a)}, back link ${b})`;
        break;
      case Damage.FirstLevel:
        detail = `the first-level bitmap has bit ${a} set but its second-level map is empty`;
        break;
      case Damage.EmptyHead:
        detail = `the bitmaps say size class ${a} has a free block, its list head is 0`;
        break;
      case Damage.NotFree: {
        const expected = b > 0 ? `a free block of at least ${b} granules` : "a free block";
        detail = `the header at granule ${block} should be ${expected} but reads size word ${hex(a)}, magic ${hex(this.word(block, MAGIC))}`;
        break;
      }
      case Damage.PrevNotFree:
        detail = `the header at granule ${block} should be the free block of ${b} granules before ${block + b} but reads size word ${hex(a)}, magic ${hex(this.word(block, MAGIC))}`;
        break;
      case Damage.Chain: {
        const next = block + a;
        detail =
          next > this.top - 1
            ? `its size (${a} granules) reaches past the heap's end`
            : `its size says the next block starts ${a} granules on, but the header there links back to ${this.word(next, PREV_PHYS)}`;
        break;
      }
      case Damage.PrevOutside:
        detail = `its link to the free block before it is ${a}, outside the heap`;
        break;
      case Damage.PrevFreeLink:
        detail = `its previous-free link ${a} does not link back to it`;
        break;
      case Damage.NextFreeLink:
        detail = `its next-free link ${a} does not link back to it`;
        break;
      case Damage.LinkOutside:
        detail = `${LINK_NAMES[b]!} is ${a}, outside the heap's blocks`;
        break;
    }
    return this.corrupt(block, detail);
  }
}

/** What a failed check found (the cold path's switch). */
const Damage = {
  EndMarker: 0,
  FirstLevel: 1,
  EmptyHead: 2,
  NotFree: 3,
  PrevNotFree: 4,
  Chain: 5,
  PrevOutside: 6,
  PrevFreeLink: 7,
  NextFreeLink: 8,
  LinkOutside: 9,
} as const;
type Damage = (typeof Damage)[keyof typeof Damage];

/** Which link {@link Tlsf.checkLink} checks. */
const LinkName = { Head: 0, NextFree: 1, PrevFree: 2 } as const;
type LinkName = (typeof LinkName)[keyof typeof LinkName];
const LINK_NAMES = ["a free list head", "its next-free link", "its previous-free link"];

/** `0x0000ABCD` */
export function hex(value: number): string {
  return `0x${(value >>> 0).toString(16).toUpperCase().padStart(8, "0")}`;
}
