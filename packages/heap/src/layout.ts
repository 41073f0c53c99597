/**
 * The heap's layout in its virtual window (offsets from the window's base; see the README's diagram):
 *
 * - page 0, the control page: one 16-byte row per size class whose first word is the head of the class's free
 *   list, then {@link CONTROL_MAGIC}; every other byte is 0;
 * - pages 1 .. {@link DESCRIPTOR_PAGES}, the page descriptors: 16 bytes per heap page (like Linux's `struct page`),
 *   mapped as the heap grows. A slab's first page holds its in-use count; a large span's first page holds its
 *   block's header;
 * - then slabs and large spans, allocated from a bump pointer and recycled by page count.
 *
 * Object header: 16 bytes in front of each slab object's user pointer (and a large block's header, in its
 * descriptor), four little-endian 32-bit words:
 *
 * | word | live block | free object |
 * |---|---|---|
 * | 0 `TAG` | `LIVE_TAG << 16 \| class` (`LARGE_CLASS` for a large block) | `FREE_TAG << 16 \| class` |
 * | 1 `SIZE` | the requested size | (stale) |
 * | 2 `LINK` | a check word: {@link sealOf}(size, owner, offset) | the next free object's header offset, 0 at the end |
 * | 3 `OWNER` | the owner tag | (stale) |
 */

/** Bytes of an object header, and the alignment of every pointer. */
export const HEADER_SIZE = 16;
export const PAGE = 4096;
export const PAGE_SHIFT = 12;

/** Word offsets inside a header. */
export const TAG = 0;
export const SIZE = 4;
export const LINK = 8;
export const OWNER = 12;

/** High half of word 0 of a live header. */
export const LIVE_TAG = 0xa11c;
/** High half of word 0 of a free object on its class's list. */
export const FREE_TAG = 0xf4ee;
/** High half of word 0 of a freed object waiting in the debug quarantine (not on a list yet). */
export const QUARANTINE_TAG = 0xdead;
/** The class of a large block (whole pages). */
export const LARGE_CLASS = 0xffff;
/** Word 0 of a large block's header. */
export const LARGE_LIVE = ((LIVE_TAG << 16) | LARGE_CLASS) >>> 0;

/** Word 0 of a live / free object of class `c`. */
export function liveWord(c: number): number {
  return ((LIVE_TAG << 16) | c) >>> 0;
}
export function freeWord(c: number): number {
  return ((FREE_TAG << 16) | c) >>> 0;
}
export function quarantineWord(c: number): number {
  return ((QUARANTINE_TAG << 16) | c) >>> 0;
}

/**
 * The check word of a live header: a stray write into its size, check or owner word breaks it (its tag word has its
 * own magic). `offset` is the header's offset from the window base, so a header copied elsewhere does not pass.
 */
export function sealOf(size: number, owner: number, offset: number): number {
  return (Math.imul(size ^ 0x5eed_c0de, 0x9e37_79b1) ^ Math.imul(owner + 1, 0x85eb_ca6b) ^ offset) >>> 0;
}

/** Bytes per control-page row (one per class); the head is word 0, the rest is 0. */
export const CONTROL_ROW = 16;
/** The word after the last class row of the control page. */
export const CONTROL_MAGIC = 0x6b73_6c62; // "kslb"

/** Bytes per page descriptor. */
export const DESCRIPTOR_SIZE = 16;
/** High byte of a slab's descriptor word 0: `SLAB_TAG << 24 | class << 16 | in-use count`. */
export const SLAB_TAG = 0x5a;
/** Word 0 of the descriptor of slab class `c` with `count` objects in use. */
export function slabWord(c: number, count: number): number {
  return ((SLAB_TAG << 24) | (c << 16) | count) >>> 0;
}

/** Largest heap the 32-bit links reach: 4 GiB of window. */
export const MAX_REACH = 2 ** 32;
/** Byte offset of the descriptor array from the window base. */
export const DESCRIPTORS = PAGE;
/** Heap pages one descriptor page describes. */
export const PAGES_PER_DESCRIPTOR_PAGE = PAGE / DESCRIPTOR_SIZE;

/**
 * The first page slabs and large spans may use in a window of `windowPages` pages (capped at {@link MAX_REACH}):
 * after the control page and the descriptor pages that window needs (4,096 for 4 GiB, 16 MiB of virtual room,
 * mapped only as the heap grows).
 */
export function firstDataPage(windowPages: number): number {
  return 1 + Math.ceil(windowPages / PAGES_PER_DESCRIPTOR_PAGE);
}

/** Offset of page `page`'s descriptor from the window base. */
export function descriptorOf(page: number): number {
  return DESCRIPTORS + page * DESCRIPTOR_SIZE;
}
