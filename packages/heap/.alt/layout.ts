/**
 * Where the heap's structures sit in its window of simulated memory. Every address is `base + granule * 16`; a
 * link is a granule number (0 means none: granule 0 is the control block, never a block).
 *
 * ```
 * window base
 * +0      control block (CONTROL_BYTES): magic, first-level bitmap, 27 second-level bitmaps, 864 list heads
 * +3584   first block ... blocks tile the mapped heap ... end marker (one granule, at the top - 16)
 * ```
 *
 * A block is a 16-byte header followed by its payload, whole granules:
 *
 * ```
 *            +0                 +4                 +8                          +12
 * live:  [ requested bytes | prev physical block | size in granules | flags | LIVE_MAGIC ] payload ...
 * free:  [ next free block | prev physical block | size in granules | flags | FREE_MAGIC ] [ prev free block ] ...
 * ```
 *
 * `flags` are {@link FREE_BIT} and {@link PREV_FREE_BIT} (the block before this one is free: TLSF merges with it
 * on free without reading it first). The previous-free link of a free block is the first word of its payload
 * (+16): a free block is at least two granules. A list head's previous-free link is left as it was (never read).
 */

/** Bytes per granule: the heap's alignment and the unit of block sizes. */
export const GRANULE = 16;
/** Bytes of a block header, right before the pointer the heap hands out. */
export const HEADER_SIZE = 16;
/** The smallest block: a header granule and one payload granule. */
export const MIN_BLOCK = 2;
/** The largest extent the heap can describe, in granules (4 GiB): sizes fit the header's 28-bit size field. */
export const MAX_GRANULES = 2 ** 28;

// Header fields, as byte offsets from the block's start.
/** Live block: the size the caller asked for, in bytes. */
export const REQUESTED = 0;
/** Free block: the next block of its free list (granule), 0 at the end. */
export const NEXT_FREE = 0;
/** Every block: the start of the block physically before it (granule), 0 for the first block. */
export const PREV_PHYS = 4;
/** Every block: size in granules (low 28 bits) and the flag bits. */
export const SIZE_FLAGS = 8;
/** Every block: {@link LIVE_MAGIC}, {@link FREE_MAGIC}, or {@link END_MAGIC} for the end marker. */
export const MAGIC = 12;
/**
 * Free block: the previous block of its free list (granule). The first payload word. Not maintained for the head of
 * a list (the control block's head slot says which block that is), so taking the head touches no other block.
 */
export const PREV_FREE = 16;

/** Mask of the size in granules in the header's size word. */
export const SIZE_MASK = MAX_GRANULES - 1;
/** Size-word flag: this block is free. */
export const FREE_BIT = 0x2000_0000;
/** Size-word flag: the block physically before this one is free. */
export const PREV_FREE_BIT = 0x1000_0000;

/** liballoc 1.1's magic for a live block. */
export const LIVE_MAGIC = 0xc001c0de;
/** liballoc 1.1's magic for a freed block. */
export const FREE_MAGIC = 0xdeaddead;
/** The zero-size block that ends the heap (TLSF's sentinel): it links back to the last block. */
export const END_MAGIC = 0xe0d0e0d0;
/** The first word of the control block: the bytes "TLSF" in a hex dump. */
export const CONTROL_MAGIC = 0x46534c54;

// TLSF size classes (Masmano et al. 2004): sizes below 64 granules have a class each; above, each power of two is
// split into 32 classes, so a class never spans more than 1/32 of its sizes and the search is O(1) through two
// bitmaps.
export const SL_SHIFT = 5;
export const SL_COUNT = 1 << SL_SHIFT;
/** First-level classes: fl = floor(log2 size) - 4 for sizes of 32 granules and more, up to 2^30 granules. */
export const FL_COUNT = 27;
/** Number of size classes. */
export const CLASS_COUNT = FL_COUNT * SL_COUNT;

// The control block, as byte offsets from the window's base.
/** The control block's magic word. */
export const CONTROL_MAGIC_AT = 0;
/** The first-level bitmap: bit fl is set when second-level map fl is not empty. */
export const FL_MAP_AT = 4;
/** Second-level bitmap fl (one 32-bit word each): bit sl is set when class fl * 32 + sl has a free block. */
export const SL_MAPS_AT = 8;
/** Head of the free list of class c (a granule, 0 when empty), one 32-bit word each. */
export const HEADS_AT = SL_MAPS_AT + FL_COUNT * 4;
/** Bytes of the control block, rounded up to a granule. */
export const CONTROL_BYTES = Math.ceil((HEADS_AT + CLASS_COUNT * 4) / GRANULE) * GRANULE;
/** The granule of the first block. */
export const FIRST_BLOCK = CONTROL_BYTES / GRANULE;

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

/**
 * Granules of a block for a payload of `payload` bytes (the request plus, in debug mode, the red zone): the header
 * and the payload rounded up to whole granules, at least {@link MIN_BLOCK}.
 */
export function granulesFor(payload: number): number {
  // Integer arithmetic for the sizes that fit 31 bits (all but the largest requests).
  if (payload <= 0x7fff_0000) return payload <= GRANULE ? MIN_BLOCK : ((payload + GRANULE - 1) >> 4) + 1;
  return Math.ceil(payload / GRANULE) + 1;
}
