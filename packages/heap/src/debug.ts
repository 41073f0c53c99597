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

/** Freed slab objects the debug mode holds back before they can be reused (FIFO), so a late write is caught. */
export const QUARANTINE_OBJECTS = 256;

/** A FIFO of quarantined objects: header offsets and their classes. */
export class Quarantine {
  private readonly headers: number[] = [];
  private readonly classes: number[] = [];
  private first = 0;

  get length(): number {
    return this.headers.length - this.first;
  }

  add(h: number, c: number): void {
    this.headers.push(h);
    this.classes.push(c);
  }

  /** Calls `visit` for each quarantined object, oldest first. */
  forEach(visit: (h: number, c: number) => void): void {
    for (let i = this.first; i < this.headers.length; i++) visit(this.headers[i]!, this.classes[i]!);
  }

  /** The oldest object (call {@link drop} after handling it), or -1 when empty. */
  oldest(): { h: number; c: number } | null {
    if (this.length === 0) return null;
    return { h: this.headers[this.first]!, c: this.classes[this.first]! };
  }

  drop(): void {
    this.first++;
    if (this.first > 1024 && this.first * 2 > this.headers.length) {
      this.headers.splice(0, this.first);
      this.classes.splice(0, this.first);
      this.first = 0;
    }
  }

  has(h: number): boolean {
    return this.headers.indexOf(h, this.first) >= 0;
  }
}
