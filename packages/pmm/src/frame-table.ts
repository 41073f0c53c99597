/**
 * Per-frame state, one 16-bit word per frame, stored in sections of 2^15 frames (128 MiB of RAM) that are created
 * the first time a frame in them is allocated or reserved. A frame whose section does not exist reads as 0: free,
 * never used. Memory therefore follows what was touched, not the size of the machine: a fresh 1 TiB machine holds
 * no section at all, and a fully used one holds 512 MiB (2 bytes per 4 KiB frame, 0.05% of RAM; Linux spends 64).
 *
 * Word layout:
 * - bits 0-11: the reference count (0 = not allocated). 4095 means "4095 or more": the exact count then lives in a
 *   small overflow map, touched only by retain/release of very widely shared frames.
 * - bit 12 RUN_START: the first frame of an allocated run (runs are what `free` may take back).
 * - bit 13 RESERVED: taken out of circulation by `reserve`.
 * - bit 14 USED_BEFORE: the frame was allocated at least once, to tell a double free from a never-allocated frame.
 */
export const SECTION_SHIFT = 15;
/** Frames per frame-table section (2^15 frames: 128 MiB of RAM, 64 KiB of metadata). */
export const SECTION_FRAMES = 1 << SECTION_SHIFT;
const SECTION_MASK = SECTION_FRAMES - 1;

export const REF_MASK = 0x0fff;
export const REF_OVERFLOW = 0x0fff;
export const RUN_START = 0x1000;
export const RESERVED = 0x2000;
export const USED_BEFORE = 0x4000;

export class FrameTable {
  private readonly sections: (Uint16Array | undefined)[];
  /** Exact reference counts of frames whose 12-bit field saturated. */
  readonly overflow = new Map<number, number>();

  constructor(frameLimit: number) {
    this.sections = new Array<Uint16Array | undefined>(Math.ceil(frameLimit / SECTION_FRAMES)).fill(undefined);
  }

  /** The state word of `frame` (0 when its section was never touched). */
  get(frame: number): number {
    const s = this.sections[frame >>> SECTION_SHIFT];
    return s === undefined ? 0 : s[frame & SECTION_MASK]!;
  }

  /** Writes the state word of `frame`, creating its section. */
  set(frame: number, value: number): void {
    this.section(frame)[frame & SECTION_MASK] = value;
  }

  /** Writes `value` to every frame of [start, end), section by section (a typed-array fill). */
  fill(start: number, end: number, value: number): void {
    let f = start;
    while (f < end) {
      const sectionEnd = Math.min(end, ((f >>> SECTION_SHIFT) + 1) * SECTION_FRAMES);
      const base = f - (f & SECTION_MASK);
      this.section(f).fill(value, f - base, sectionEnd - base);
      f = sectionEnd;
    }
  }

  /** The section array holding `frame`, created zeroed on first use. */
  section(frame: number): Uint16Array {
    const index = frame >>> SECTION_SHIFT;
    let s = this.sections[index];
    if (s === undefined) {
      s = new Uint16Array(SECTION_FRAMES);
      this.sections[index] = s;
    }
    return s;
  }

  /**
   * The first frame in [start, end) whose word, masked with `mask`, is not zero; -1 if none. Absent sections
   * are skipped whole, so this costs O(touched frames), not O(range).
   */
  findNonZero(start: number, end: number, mask: number): number {
    let f = start;
    while (f < end) {
      const sectionEnd = Math.min(end, ((f >>> SECTION_SHIFT) + 1) * SECTION_FRAMES);
      const s = this.sections[f >>> SECTION_SHIFT];
      if (s !== undefined) {
        const base = f - (f & SECTION_MASK);
        for (let i = f & SECTION_MASK, last = sectionEnd - base; i < last; i++) {
          if ((s[i]! & mask) !== 0) return base + i;
        }
      }
      f = sectionEnd;
    }
    return -1;
  }

  /** The first frame in [start, end) whose word has no bit of `mask` set; -1 if none. */
  findZero(start: number, end: number, mask: number): number {
    let f = start;
    while (f < end) {
      const sectionEnd = Math.min(end, ((f >>> SECTION_SHIFT) + 1) * SECTION_FRAMES);
      const s = this.sections[f >>> SECTION_SHIFT];
      if (s === undefined) return f;
      const base = f - (f & SECTION_MASK);
      for (let i = f & SECTION_MASK, last = sectionEnd - base; i < last; i++) {
        if ((s[i]! & mask) === 0) return base + i;
      }
      f = sectionEnd;
    }
    return -1;
  }

  /** The first frame in [start, end) whose word masked with `mask` differs from `value`; -1 if none. */
  findMismatch(start: number, end: number, mask: number, value: number): number {
    let f = start;
    while (f < end) {
      const sectionEnd = Math.min(end, ((f >>> SECTION_SHIFT) + 1) * SECTION_FRAMES);
      const s = this.sections[f >>> SECTION_SHIFT];
      if (s === undefined) {
        if (value !== 0) return f;
      } else {
        const base = f - (f & SECTION_MASK);
        for (let i = f & SECTION_MASK, last = sectionEnd - base; i < last; i++) {
          if ((s[i]! & mask) !== value) return base + i;
        }
      }
      f = sectionEnd;
    }
    return -1;
  }

  /** How many frames of [start, end) have any bit of `mask` set. */
  count(start: number, end: number, mask: number): number {
    let n = 0;
    let f = start;
    while (f < end) {
      const sectionEnd = Math.min(end, ((f >>> SECTION_SHIFT) + 1) * SECTION_FRAMES);
      const s = this.sections[f >>> SECTION_SHIFT];
      if (s !== undefined) {
        const base = f - (f & SECTION_MASK);
        for (let i = f & SECTION_MASK, last = sectionEnd - base; i < last; i++) if ((s[i]! & mask) !== 0) n++;
      }
      f = sectionEnd;
    }
    return n;
  }

  /** Number of sections created so far. */
  get sectionCount(): number {
    let n = 0;
    for (const s of this.sections) if (s !== undefined) n++;
    return n;
  }

  /** Bytes of typed-array storage in use. */
  get byteLength(): number {
    return this.sectionCount * SECTION_FRAMES * 2 + this.sections.length * 8;
  }

  /** A copy of every section (undefined for absent ones) and of the overflow map, for snapshots. */
  copy(): { sections: (Uint16Array | undefined)[]; overflow: [number, number][] } {
    return {
      sections: this.sections.map((s) => s?.slice()),
      overflow: [...this.overflow.entries()].sort((a, b) => a[0] - b[0]),
    };
  }
}
