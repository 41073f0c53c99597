import type { VirtAddr, VirtualMemory } from "@ksim/core";

/**
 * Byte patterns of the debug mode, taken from Linux's SLUB debugging (`include/linux/poison.h`) so that they look
 * familiar in a hex dump.
 */
export const Poison = {
  /** Freed memory (POISON_FREE). A byte that is not this in a free block was written after free. */
  free: 0x6b,
  /** Memory handed out but not yet written by its owner (POISON_INUSE): reading it shows use of uninitialised heap. */
  uninitialised: 0x5a,
  /** The red zone after each live block (SLUB_RED_ACTIVE). */
  redZone: 0xcc,
} as const;

/** Minimum red zone after each block in debug mode, in bytes. */
export const RED_ZONE = 16;

const CHUNK = 16 * 1024;

/** Scans simulated memory for bytes that differ from an expected pattern, through one reused buffer. */
export class PatternScanner {
  private buffer = new Uint8Array(CHUNK);

  constructor(private readonly memory: VirtualMemory) {}

  /** The first address in `[start, start + length)` whose byte is not `byte`, or -1 when all match. */
  firstMismatch(start: VirtAddr, length: number, byte: number): number {
    let offset = 0;
    while (offset < length) {
      const n = Math.min(CHUNK, length - offset);
      const view = n === CHUNK ? this.buffer : this.buffer.subarray(0, n);
      this.memory.read(start + offset, view);
      for (let i = 0; i < n; i++) {
        if (view[i] !== byte) return start + offset + i;
      }
      offset += n;
    }
    return -1;
  }

  /** The byte at `address` (for reports). */
  byteAt(address: VirtAddr): number {
    return this.memory.read8(address);
  }
}
