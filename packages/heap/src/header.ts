import type { VirtAddr, VirtualMemory } from "@ksim/core";

/**
 * The block header the heap writes into simulated RAM, in the 16 bytes just before each pointer it hands out:
 *
 * | offset | field                                   |
 * |-------:|-----------------------------------------|
 * | +0     | requested size in bytes (low 32 bits)   |
 * | +4     | owner id                                |
 * | +8     | block size in 16-byte granules          |
 * | +12    | magic: {@link LIVE_MAGIC} / {@link FREE_MAGIC} |
 *
 * The magic sits right before the caller's data, so an underrun hits it first; an overrun of the block before
 * reaches the size field first. The JavaScript index (`tlsf.ts`) is authoritative; this header is the copy a driver
 * can see and damage. The heap compares it with the index on every free and in `heapCheck`, and never trusts it.
 */
export const HEADER_SIZE = 16;

/** liballoc 1.1's magic for a live block. */
export const LIVE_MAGIC = 0xc001c0de;
/** liballoc 1.1's magic for a freed block. */
export const FREE_MAGIC = 0xdeaddead;

/** The four header words, as read back. */
export interface HeaderWords {
  requested: number;
  owner: number;
  granules: number;
  magic: number;
}

/**
 * Reads and writes headers with 32-bit accesses: the first one translates the page, the other three hit the
 * virtual memory's one-page cache, which is cheaper than a bulk transfer through a buffer.
 */
export class HeaderIo {
  /** The last header read by {@link read}; overwritten by the next read. */
  readonly words: HeaderWords = { requested: 0, owner: 0, granules: 0, magic: 0 };

  constructor(private readonly memory: VirtualMemory) {}

  /** Writes a live header at `address` (the block start, 16 bytes before the pointer). */
  writeLive(address: VirtAddr, requested: number, owner: number, granules: number): void {
    const memory = this.memory;
    memory.write32(address, requested >>> 0);
    memory.write32(address + 4, owner >>> 0);
    memory.write32(address + 8, granules >>> 0);
    memory.write32(address + 12, LIVE_MAGIC);
  }

  /** Marks the header at `address` freed (only the magic changes). */
  writeFreed(address: VirtAddr): void {
    this.memory.write32(address + 12, FREE_MAGIC);
  }

  /** Reads the header at `address` into {@link words}. */
  read(address: VirtAddr): HeaderWords {
    const memory = this.memory;
    const words = this.words;
    words.magic = memory.read32(address + 12);
    words.requested = memory.read32(address);
    words.owner = memory.read32(address + 4);
    words.granules = memory.read32(address + 8);
    return words;
  }

  /**
   * The check on every kfree: the two words a contiguous overrun or underrun reaches first, the requested size
   * (an overrun of the block before starts there) and the magic (right before the caller's data), hold what the
   * index expects. Damage to the middle words alone takes a wild write; {@link matches} (debug mode, krealloc,
   * heapCheck) compares all four.
   */
  endsMatch(address: VirtAddr, requested: number): boolean {
    const memory = this.memory;
    return memory.read32(address + 12) === LIVE_MAGIC && memory.read32(address) === requested >>> 0;
  }

  /** True when the header at `address` is exactly the live header the index expects. */
  matches(address: VirtAddr, requested: number, owner: number, granules: number): boolean {
    const memory = this.memory;
    return (
      memory.read32(address + 12) === LIVE_MAGIC &&
      memory.read32(address + 8) === granules >>> 0 &&
      memory.read32(address) === requested >>> 0 &&
      memory.read32(address + 4) === owner >>> 0
    );
  }
}

/** Says which header fields differ from what the index expects, for a panic message. */
export function describeHeaderDamage(words: HeaderWords, requested: number, owner: number, granules: number): string {
  const parts: string[] = [];
  if (words.magic !== LIVE_MAGIC) parts.push(`magic ${hex32(words.magic)} (expected ${hex32(LIVE_MAGIC)})`);
  if (words.granules !== granules >>> 0) parts.push(`block size ${words.granules} granules (expected ${granules})`);
  if (words.requested !== requested >>> 0) parts.push(`size ${words.requested} (expected ${requested})`);
  if (words.owner !== owner >>> 0) parts.push(`owner ${words.owner} (expected ${owner})`);
  return parts.join(", ");
}

/** How many bytes of the magic still match: liballoc reports 1-3 matching bytes as a "Potential overrun". */
export function magicBytesMatching(magic: number, expected: number): number {
  let count = 0;
  for (let shift = 0; shift < 32; shift += 8) {
    if (((magic >>> shift) & 0xff) === ((expected >>> shift) & 0xff)) count++;
  }
  return count;
}

function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).toUpperCase().padStart(8, "0")}`;
}
