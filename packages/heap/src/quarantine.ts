/** Freed slab objects the debug mode holds back before they can be reused (FIFO), so a late write is caught. */
export const QUARANTINE_OBJECTS = 256;

/** A FIFO of quarantined objects: header offsets and their classes. */
export class Quarantine {
  private readonly headers: number[] = [];
  private readonly classes: number[] = [];
  private first = 0;

  /** Objects held. */
  get length(): number {
    return this.headers.length - this.first;
  }

  /** Holds the object whose header is at offset `h`, of class `c`. */
  add(h: number, c: number): void {
    this.headers.push(h);
    this.classes.push(c);
  }

  /** Calls `visit` for each quarantined object, oldest first. */
  forEach(visit: (h: number, c: number) => void): void {
    for (let i = this.first; i < this.headers.length; i++) visit(this.headers[i]!, this.classes[i]!);
  }

  /** The oldest object (call {@link drop} after handling it), or null when empty. */
  oldest(): { h: number; c: number } | null {
    if (this.length === 0) return null;
    return { h: this.headers[this.first]!, c: this.classes[this.first]! };
  }

  /** Appends the `count` oldest objects to `out` as flattened class, header pairs. */
  collect(count: number, out: number[]): void {
    for (let i = this.first; i < this.first + count && i < this.headers.length; i++) {
      out.push(this.classes[i]!, this.headers[i]!);
    }
  }

  /** Forgets every object. */
  clear(): void {
    this.headers.length = 0;
    this.classes.length = 0;
    this.first = 0;
  }

  /** Forgets the oldest object (compacting the arrays now and then). */
  drop(): void {
    this.first++;
    if (this.first > 1024 && this.first * 2 > this.headers.length) {
      this.headers.splice(0, this.first);
      this.classes.splice(0, this.first);
      this.first = 0;
    }
  }
}
