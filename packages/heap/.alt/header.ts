import {
  FIRST_BLOCK,
  FREE_BIT,
  FREE_MAGIC,
  granulesFor,
  LIVE_MAGIC,
  MAGIC,
  MIN_BLOCK,
  PREV_FREE_BIT,
  PREV_PHYS,
  REQUESTED,
  SIZE_FLAGS,
  SIZE_MASK,
} from "./layout.js";
import { hex, type Tlsf } from "./tlsf.js";

/**
 * The checks of a live block's header in simulated RAM. The header is the truth (there is no other copy of a
 * block's size or neighbours), so damage is found by consistency: the magic, the size against the requested size
 * (a block is exactly the granules its request needs, or one more), the size against the block after it (which
 * must link back), and the back link against the block before it.
 */

/** The four words of a block header, as read back (reused: overwritten by the next read). */
export interface HeaderWords {
  requested: number;
  prevPhys: number;
  sizeWord: number;
  magic: number;
}

/**
 * True when a block of `size` granules is what a request of `payload` bytes (red zone included) gets: its own
 * granules, or one more when the rest was too small to split off.
 */
export function requestFits(payload: number, size: number): boolean {
  const difference = size - granulesFor(payload);
  return difference === 0 || difference === 1;
}

/** Reads and checks live block headers through the allocator. */
export class HeaderCheck {
  /** The last header read by {@link read}. */
  readonly words: HeaderWords = { requested: 0, prevPhys: 0, sizeWord: 0, magic: 0 };

  constructor(
    private readonly tlsf: Tlsf,
    /** Bytes of red zone after each block (debug mode), 0 otherwise. */
    private readonly redZone: number,
  ) {}

  /** Reads the header of block `block` into {@link words}. */
  read(block: number): HeaderWords {
    const tlsf = this.tlsf;
    const words = this.words;
    words.requested = tlsf.word(block, REQUESTED);
    words.prevPhys = tlsf.word(block, PREV_PHYS);
    words.sizeWord = tlsf.word(block, SIZE_FLAGS);
    words.magic = tlsf.word(block, MAGIC);
    return words;
  }

  /**
   * What is wrong with the header of live block `block`, or "" when it is a consistent live header: magic, flags,
   * size (against the request, the heap's end and the block after it) and the back link (against the block before
   * it). Reads only mapped heap memory, whatever the header says.
   */
  damage(block: number): string {
    const { requested, prevPhys, sizeWord, magic } = this.read(block);
    const top = this.tlsf.top;
    const size = sizeWord & SIZE_MASK;
    const parts: string[] = [];
    if (magic !== LIVE_MAGIC) {
      parts.push(
        `magic ${hex(magic)} (expected ${hex(LIVE_MAGIC)}${magic === FREE_MAGIC ? ", it reads as freed" : ""})`,
      );
    }
    const sizeSane = (sizeWord & FREE_BIT) === 0 && size >= MIN_BLOCK && block + size <= top - 1;
    if (!sizeSane) {
      parts.push(`size word ${hex(sizeWord)} (not a live block of 2 to ${top - 1 - block} granules)`);
    } else {
      if (!requestFits(requested + this.redZone, size)) {
        parts.push(`size ${requested} does not fit its block of ${size} granules`);
      }
      const back = this.tlsf.word(block + size, PREV_PHYS);
      if (back !== block) {
        parts.push(`block size ${size} granules, but the header that ends it links back to ${back}, not here`);
      }
    }
    const prevDamage = this.prevDamage(block, prevPhys, sizeWord);
    if (prevDamage !== "") parts.push(prevDamage);
    return parts.join(", ");
  }

  /**
   * The requested size of block `block` when its size word and requested size agree (whatever the magic says),
   * else -1.
   */
  requestedIfSane(block: number): number {
    const { requested, sizeWord } = this.read(block);
    const size = sizeWord & SIZE_MASK;
    const sane =
      (sizeWord & FREE_BIT) === 0 &&
      size >= MIN_BLOCK &&
      block + size <= this.tlsf.top - 1 &&
      requestFits(requested + this.redZone, size);
    return sane ? requested : -1;
  }

  /** Whether the back link and the previous-free flag agree with the block before. */
  private prevDamage(block: number, prevPhys: number, sizeWord: number): string {
    const tlsf = this.tlsf;
    if (block === FIRST_BLOCK) {
      return prevPhys === 0 && (sizeWord & PREV_FREE_BIT) === 0
        ? ""
        : `back link ${prevPhys} (expected 0: the first block)`;
    }
    if (prevPhys < FIRST_BLOCK || prevPhys > block - MIN_BLOCK) return `back link ${prevPhys} (outside the heap)`;
    const prevWord = tlsf.word(prevPhys, SIZE_FLAGS);
    if (prevPhys + (prevWord & SIZE_MASK) !== block) {
      return `back link ${prevPhys} (the block there spans ${prevWord & SIZE_MASK} granules, not up to here)`;
    }
    if (((prevWord & FREE_BIT) !== 0) !== ((sizeWord & PREV_FREE_BIT) !== 0)) {
      return `previous-free flag ${(sizeWord & PREV_FREE_BIT) !== 0} but the block before is ${(prevWord & FREE_BIT) !== 0 ? "free" : "live"}`;
    }
    return "";
  }
}
