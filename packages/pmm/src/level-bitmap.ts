/**
 * A bitmap with summary levels (a 32-ary tree of words): level 0 holds one bit per item, and bit w of a word at
 * level L+1 is set when word w of level L is not zero. Setting, clearing and finding the highest set bit below a
 * bound each touch one word per level, so they cost O(log32 n): 6 words for 2^28 bits (1 TiB of frames).
 *
 * The buddy allocator keeps one per order: bit i set means "block i of this order is free". Finding the highest
 * set bit below a bound is how it honours a physical limit without scanning.
 */
export class LevelBitmap {
  /** Number of bits. */
  readonly size: number;
  /** All levels in one array: level 0 first, then each summary level. */
  readonly words: Int32Array;
  private readonly offsets: Int32Array;
  private readonly top: number;

  constructor(size: number) {
    this.size = size;
    const counts: number[] = [];
    let n = Math.max(1, Math.ceil(size / 32));
    counts.push(n);
    while (n > 1) {
      n = Math.ceil(n / 32);
      counts.push(n);
    }
    this.top = counts.length - 1;
    this.offsets = new Int32Array(counts.length);
    let total = 0;
    counts.forEach((c, level) => {
      this.offsets[level] = total;
      total += c;
    });
    this.words = new Int32Array(total);
  }

  /** True when bit `i` is set; false for any `i` outside [0, size). */
  test(i: number): boolean {
    return i >= 0 && i < this.size && (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  /** Sets bit `i` (which must be in range), marking the summary levels above it. */
  set(i: number): void {
    const words = this.words;
    let idx = i;
    for (let level = 0; ; level++) {
      const w = this.offsets[level]! + (idx >>> 5);
      const old = words[w]!;
      words[w] = old | (1 << (idx & 31));
      if (old !== 0 || level === this.top) return;
      idx >>>= 5;
    }
  }

  /** Clears bit `i` (which must be in range), clearing summary bits whose word became empty. */
  clear(i: number): void {
    const words = this.words;
    let idx = i;
    for (let level = 0; ; level++) {
      const w = this.offsets[level]! + (idx >>> 5);
      const next = words[w]! & ~(1 << (idx & 31));
      words[w] = next;
      if (next !== 0 || level === this.top) return;
      idx >>>= 5;
    }
  }

  /** The highest set bit, or -1 when none is set. */
  findLast(): number {
    const words = this.words;
    let level = this.top;
    const root = words[this.offsets[level]!]!;
    if (root === 0) return -1;
    let pos = 31 - Math.clz32(root);
    while (level > 0) {
      level--;
      pos = (pos << 5) | (31 - Math.clz32(words[this.offsets[level]! + pos]!));
    }
    return pos;
  }

  /** The highest set bit strictly below `bound`, or -1. */
  findLastBelow(bound: number): number {
    if (bound >= this.size) return this.findLast();
    if (bound <= 0) return -1;
    const words = this.words;
    let idx = bound - 1;
    let level = 0;
    let pos: number;
    // Climb until a word has a set bit at or below idx, then descend along the highest set bits.
    for (;;) {
      const w = idx >>> 5;
      const bit = idx & 31;
      const m = words[this.offsets[level]! + w]! & (bit === 31 ? -1 : (1 << (bit + 1)) - 1);
      if (m !== 0) {
        pos = (w << 5) | (31 - Math.clz32(m));
        break;
      }
      if (w === 0 || level === this.top) return -1;
      idx = w - 1;
      level++;
    }
    while (level > 0) {
      level--;
      pos = (pos << 5) | (31 - Math.clz32(words[this.offsets[level]! + pos]!));
    }
    return pos;
  }

  /** Bytes of typed-array storage. */
  get byteLength(): number {
    return this.words.byteLength + this.offsets.byteLength;
  }
}
