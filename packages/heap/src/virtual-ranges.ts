/**
 * The heap window's virtual pages: a bump pointer (`top`, the used window) and the free runs below it, kept sorted and
 * merged, so that any freed run serves any later request that fits, whatever its size or alignment, and the padding an
 * aligned request skips stays usable. A run given back at the top lowers the top instead. First fit: requests come
 * once per slab or large block, never on the churn's hot path, and the runs stay few.
 */
export class VirtualRanges {
  /** Free runs `[starts[i], ends[i])`, sorted, disjoint, never touching (touching runs are merged). */
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  /**
   * @param top the first page the runs may use (everything below it is not the allocator's)
   * @param limit one past the last page they may use
   */
  constructor(
    public top: number,
    private readonly limit: number,
  ) {}

  /** How many free runs lie below the top. */
  get freeRuns(): number {
    return this.starts.length;
  }

  /** A run of `pages` pages starting at a multiple of `align` pages (any positive integer); -1 when none is left. */
  take(pages: number, align: number): number {
    const { starts, ends } = this;
    for (let i = 0; i < starts.length; i++) {
      const at = Math.ceil(starts[i]! / align) * align;
      if (at + pages > ends[i]!) continue;
      this.carve(i, at, at + pages);
      return at;
    }
    const at = Math.ceil(this.top / align) * align;
    if (at + pages > this.limit) return -1;
    if (at > this.top) this.give(this.top, at - this.top); // the alignment padding stays usable
    this.top = at + pages;
    return at;
  }

  /** Gives back `[page, page + pages)`, which {@link take} returned (or part of it). */
  give(page: number, pages: number): void {
    const { starts, ends } = this;
    let end = page + pages;
    let start = page;
    // The first run that starts after `page`; the run before it may touch from below.
    let i = 0;
    while (i < starts.length && starts[i]! < page) i++;
    if (i > 0 && ends[i - 1] === start) {
      i--;
      start = starts[i]!;
      starts.splice(i, 1);
      ends.splice(i, 1);
    }
    if (i < starts.length && starts[i] === end) {
      end = ends[i]!;
      starts.splice(i, 1);
      ends.splice(i, 1);
    }
    if (end === this.top) {
      this.top = start;
      return;
    }
    starts.splice(i, 0, start);
    ends.splice(i, 0, end);
  }

  /** Removes `[from, to)` from run `i`, which contains it. */
  private carve(i: number, from: number, to: number): void {
    const { starts, ends } = this;
    const start = starts[i]!;
    const end = ends[i]!;
    if (start < from && to < end) {
      ends[i] = from;
      starts.splice(i + 1, 0, to);
      ends.splice(i + 1, 0, end);
    } else if (start < from) {
      ends[i] = from;
    } else if (to < end) {
      starts[i] = to;
    } else {
      starts.splice(i, 1);
      ends.splice(i, 1);
    }
  }
}
