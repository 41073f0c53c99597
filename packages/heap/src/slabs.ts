import type { DirectViewSlot, VirtAddr, VirtualMemory } from "@ksim/core";
import type { SizeClasses } from "./classes.js";
import {
  CONTROL_ROW,
  descriptorOf,
  freeWord,
  HEADER_SIZE,
  LINK,
  liveWord,
  OWNER,
  PAGE,
  quarantineWord,
  SIZE,
  SLAB_TAG,
  sealOf,
  slabWord,
  TAG,
} from "./layout.js";
import { type HeapShadow, LARGE_KIND } from "./shadow.js";
import type { HeapSpace } from "./space.js";

/** Where the slab code found damage: the offset of the header, descriptor or control row it read, and what. */
export type DamageHandler = (offset: number, detail: string) => never;

/** Bytes of empty slabs queued before they are given back (and at least 1/16 of the mapped bytes). */
const RELEASE_FLOOR = 256 * 1024;
const RELEASE_FRACTION = 1 / 16;

/**
 * The slab caches: per size class a LIFO free list in simulated RAM (head in the control page, links in the free
 * objects' headers), slabs of 1..9 pages aligned to their size, each slab's in-use count in its first page's
 * descriptor. kmalloc pops, kfree pushes: 2 scalar reads, 2 scalar writes and one `pageView` for the header.
 *
 * Everything read from RAM is checked before anything is written, so a damaged structure panics (through `damage`)
 * with the heap as it was. A slab whose objects are all free is queued; once the queued bytes pass
 * max(256 KiB, mapped / 16) the lists of the classes concerned are swept once and those slabs are unmapped, so the
 * sweep's cost is paid by the bytes it gives back and steady churn never triggers it.
 */
export class Slabs {
  /** Objects on each class's free list (the bound of every list walk). */
  readonly listed: Int32Array;
  /** Slabs of each class. */
  readonly slabs: Int32Array;
  /** Bytes of queued empty slabs. */
  emptyBytes = 0;
  /** Sweeps so far. */
  sweeps = 0;

  private readonly base: VirtAddr;
  private readonly view: DirectViewSlot = { offset: 0 };
  private readonly usePageView: boolean;
  /** Queued empty slabs (first pages) per class; `queued` marks those still counted in emptyBytes. */
  private readonly empties: number[][];
  private queued = new Uint8Array(0);

  constructor(
    private readonly memory: VirtualMemory,
    private readonly space: HeapSpace,
    private readonly shadow: HeapShadow,
    readonly classes: SizeClasses,
    private readonly damage: DamageHandler,
    pageView: boolean,
    /** Byte a new slab is filled with before its headers are written (debug mode's poison), or -1. */
    private readonly fillByte: number,
  ) {
    this.base = space.base;
    this.usePageView = pageView && memory.pageView !== undefined;
    this.listed = new Int32Array(classes.count);
    this.slabs = new Int32Array(classes.count);
    this.empties = Array.from({ length: classes.count }, () => []);
  }

  /**
   * Pops an object of class `c` for a block of `size` bytes owned by `owner`: writes its live header, marks it live
   * in the shadow, counts it in its slab. Returns the header's offset, or -1 when a new slab was needed and the
   * window or frames ran out (nothing changed).
   */
  allocate(c: number, size: number, owner: number): number {
    const memory = this.memory;
    const headAt = this.base + c * CONTROL_ROW;
    let h = memory.read32(headAt);
    if (h === 0) {
      if (!this.refill(c)) return -1;
      h = memory.read32(headAt);
    }
    if (!this.isSlot(c, h)) this.damage(c * CONTROL_ROW, `it is 0x${hex(h)}, not an object of the class`);
    const at = this.base + h;
    const view = this.usePageView ? memory.pageView!(at, true, this.view) : null;
    const o = this.view.offset;
    const tag = view !== null ? view.getUint32(o, true) : memory.read32(at + TAG);
    if (tag !== freeWord(c)) this.damage(h, `a free object of ${this.classes.name(c)} has tag 0x${hex(tag)}`);
    const next = view !== null ? view.getUint32(o + LINK, true) : memory.read32(at + LINK);
    // The link gets the full slot check when it is popped as the head; here only what makes it safe to store.
    if (next !== 0 && !this.inClass(c, next)) this.damage(h, `its free-list link is 0x${hex(next)}`);
    const d = this.base + descriptorOf(this.slabOf(c, h));
    const count = memory.read32(d);
    if (count >>> 16 !== ((SLAB_TAG << 8) | c) || (count & 0xffff) >= this.classes.perSlab[c]!) {
      this.damage(d - this.base, `the slab descriptor reads 0x${hex(count)}`);
    }
    // Checked; now the writes.
    const seal = sealOf(size, owner, h);
    if (view !== null) {
      view.setUint32(o + TAG, liveWord(c), true);
      view.setUint32(o + SIZE, size, true);
      view.setUint32(o + LINK, seal, true);
      view.setUint32(o + OWNER, owner, true);
    } else {
      memory.write32(at + TAG, liveWord(c));
      memory.write32(at + SIZE, size);
      memory.write32(at + LINK, seal);
      memory.write32(at + OWNER, owner);
    }
    memory.write32(headAt, next);
    memory.write32(d, count + 1);
    this.shadow.setLive(h + HEADER_SIZE);
    this.listed[c]!--;
    if ((count & 0xffff) === 0) this.unqueue(c, d);
    return h;
  }

  /**
   * Frees the live object whose header is at offset `h` of class `c` (the caller checked the shadow and the kind):
   * checks its header (tag, seal, size within the slot less `slack`), then pushes it onto its list, or with
   * `quarantine` only marks it quarantined (the debug mode pushes it later with {@link push}). Returns its requested
   * size, or -1 (nothing changed) when the header is damaged.
   */
  free(c: number, h: number, slack: number, quarantine: boolean): number {
    const memory = this.memory;
    const at = this.base + h;
    const view = this.usePageView ? memory.pageView!(at, true, this.view) : null;
    const o = this.view.offset;
    let tag: number;
    let size: number;
    let seal: number;
    let owner: number;
    if (view !== null) {
      tag = view.getUint32(o + TAG, true);
      size = view.getUint32(o + SIZE, true);
      seal = view.getUint32(o + LINK, true);
      owner = view.getUint32(o + OWNER, true);
    } else {
      tag = memory.read32(at + TAG);
      size = memory.read32(at + SIZE);
      seal = memory.read32(at + LINK);
      owner = memory.read32(at + OWNER);
    }
    if (tag !== liveWord(c) || seal !== sealOf(size, owner, h) || size > this.classes.user[c]! - slack) return -1;
    if (quarantine) {
      memory.write32(at + TAG, quarantineWord(c));
      this.shadow.clearLive(h + HEADER_SIZE);
      return size;
    }
    const d = this.pushChecked(c, h, at, view, o);
    this.shadow.clearLive(h + HEADER_SIZE);
    if (d !== 0) this.enqueue(c, d);
    return size;
  }

  /** Pushes a quarantined object of class `c` at offset `h` onto its list (debug mode's quarantine drains here). */
  push(c: number, h: number): void {
    const at = this.base + h;
    const tag = this.memory.read32(at + TAG);
    if (tag !== quarantineWord(c)) this.damage(h, `a quarantined object's tag is 0x${hex(tag)}`);
    const d = this.pushChecked(c, h, at, null, 0);
    if (d !== 0) this.enqueue(c, d);
  }

  /**
   * Links object `h` (header at `at`, or through `view` at `o`) in front of class `c`'s list; counts it free.
   * Returns the slab descriptor's address when the slab became empty (the caller queues it), else 0.
   */
  private pushChecked(c: number, h: number, at: VirtAddr, view: DataView | null, o: number): number {
    const memory = this.memory;
    const headAt = this.base + c * CONTROL_ROW;
    const head = memory.read32(headAt);
    if (head !== 0 && !this.inClass(c, head)) {
      this.damage(c * CONTROL_ROW, `it is 0x${hex(head)}, not an object of the class`);
    }
    const d = this.base + descriptorOf(this.slabOf(c, h));
    const count = memory.read32(d);
    if (count >>> 16 !== ((SLAB_TAG << 8) | c) || (count & 0xffff) === 0) {
      this.damage(d - this.base, `the slab descriptor reads 0x${hex(count)}`);
    }
    if (view !== null) {
      view.setUint32(o + LINK, head, true);
      view.setUint32(o + TAG, freeWord(c), true);
    } else {
      memory.write32(at + LINK, head);
      memory.write32(at + TAG, freeWord(c));
    }
    memory.write32(headAt, h);
    memory.write32(d, count - 1);
    this.listed[c]!++;
    return (count & 0xffff) === 1 ? d : 0;
  }

  /**
   * Whether offset `h` is the start of a slot of class `c` in a mapped slab (the kinds shadow and arithmetic only:
   * safe for any 32-bit value).
   */
  isSlot(c: number, h: number): boolean {
    const page = h >>> 12;
    if (this.shadow.kinds[page] !== c + 1) return false;
    const inSlab = h - (page - (page % this.classes.pages[c]!)) * PAGE;
    return inSlab % this.classes.slot[c]! === 0 && inSlab < this.classes.perSlab[c]! * this.classes.slot[c]!;
  }

  /**
   * The cheap half of {@link isSlot}: `h` is 16-byte aligned on a page of a slab of class `c`. Enough to store it as
   * a link; it is fully checked when it is popped as a list head.
   */
  inClass(c: number, h: number): boolean {
    return (h & 15) === 0 && this.shadow.kinds[h >>> 12] === c + 1;
  }

  /** The first page of the slab of class `c` holding offset `h`. */
  slabOf(c: number, h: number): number {
    const page = h >>> 12;
    return page - (page % this.classes.pages[c]!);
  }

  /** Adds a slab to class `c`: maps it, threads its objects onto the list in address order. False when out. */
  private refill(c: number): boolean {
    const pages = this.classes.pages[c]!;
    const space = this.space;
    const page = space.take(pages, pages, pages);
    if (page < 0) return false;
    const memory = this.memory;
    const slot = this.classes.slot[c]!;
    const count = this.classes.perSlab[c]!;
    const first = page * PAGE;
    const base = this.base;
    if (this.fillByte >= 0) memory.fill(base + first, pages * PAGE, this.fillByte);
    for (let i = 0; i < count; i++) {
      const at = base + first + i * slot;
      memory.write32(at + TAG, freeWord(c));
      memory.write32(at + LINK, i + 1 < count ? first + (i + 1) * slot : 0);
    }
    memory.write32(base + c * CONTROL_ROW, first);
    memory.write32(base + descriptorOf(page), slabWord(c, 0));
    this.shadow.setKind(page, pages, c + 1);
    this.shadow.forgetGiven(page, pages);
    this.listed[c]! += count;
    this.slabs[c]!++;
    return true;
  }

  /** A slab became empty: queue it, and give queued slabs back once there are enough. */
  private enqueue(c: number, d: number): void {
    const head = (d - this.base - descriptorOf(0)) / 16;
    if (head >= this.queued.length) {
      const queued = new Uint8Array(Math.max(4096, this.space.top * 2));
      queued.set(this.queued);
      this.queued = queued;
    }
    if (this.queued[head] === 0) {
      this.queued[head] = 1;
      this.empties[c]!.push(head);
      this.emptyBytes += this.classes.pages[c]! * PAGE;
    }
    if (this.emptyBytes > RELEASE_FLOOR && this.emptyBytes > this.space.mappedPages * PAGE * RELEASE_FRACTION) {
      this.releaseEmpty();
    }
  }

  /** A queued slab got an object back: it no longer counts as empty (it stays on the class's queue until a sweep). */
  private unqueue(c: number, d: number): void {
    const head = (d - this.base - descriptorOf(0)) / 16;
    if (this.queued[head] === 1) {
      this.queued[head] = 0;
      this.emptyBytes -= this.classes.pages[c]! * PAGE;
    }
  }

  /** Sweeps every class with queued slabs and gives back those still empty. */
  releaseEmpty(): void {
    for (let c = 0; c < this.classes.count; c++) {
      const empties = this.empties[c]!;
      if (empties.length === 0) continue;
      const candidates = empties.splice(0);
      for (const head of candidates) this.queued[head] = 0;
      this.sweep(c, candidates);
    }
    this.emptyBytes = 0;
  }

  /** Gives back every slab (all must be empty: the heap has no live block); the sweeps check that they are. */
  releaseEverySlab(): void {
    const heads: number[][] = Array.from({ length: this.classes.count }, () => []);
    const kinds = this.shadow.kinds;
    for (let page = this.space.firstData; page < this.space.top; page++) {
      const kind = kinds[page]!;
      if (kind !== 0 && kind !== LARGE_KIND && page % this.classes.pages[kind - 1]! === 0) heads[kind - 1]!.push(page);
    }
    for (let c = 0; c < this.classes.count; c++) {
      if (heads[c]!.length === 0) continue;
      for (const head of this.empties[c]!.splice(0)) this.queued[head] = 0;
      this.sweep(c, heads[c]!);
    }
    this.emptyBytes = 0;
  }

  /**
   * Unlinks the objects of those `candidates` slabs (first pages) of class `c` that are empty from the class's list
   * and unmaps them. Reads and checks everything first (the walk is bounded by the list's length): damage panics
   * before any write.
   */
  private sweep(c: number, candidates: readonly number[]): void {
    this.sweeps++;
    const memory = this.memory;
    const base = this.base;
    const pages = this.classes.pages[c]!;
    const perSlab = this.classes.perSlab[c]!;
    const dead = new Map<number, number>(); // first page -> objects of it seen on the list
    for (const head of candidates) {
      const word = memory.read32(base + descriptorOf(head));
      if (word !== slabWord(c, 0) || this.shadow.kinds[head] !== c + 1) continue;
      const live = this.shadow.firstLive(head * PAGE, (head + pages) * PAGE);
      if (live >= 0) this.damage(descriptorOf(head), "the slab's in-use count is 0 but it holds a live block");
      dead.set(head, 0);
    }
    if (dead.size === 0) return;
    // Pass 1: walk and check.
    let steps = 0;
    let h = memory.read32(base + c * CONTROL_ROW);
    while (h !== 0) {
      if (++steps > this.listed[c]!) this.damage(c * CONTROL_ROW, "the free list is longer than its count (a cycle?)");
      if (!this.isSlot(c, h))
        this.damage(c * CONTROL_ROW, `the free list of ${this.classes.name(c)} reaches 0x${hex(h)}`);
      if (memory.read32(base + h + TAG) !== freeWord(c)) this.damage(h, "a listed object's tag is not free");
      const slab = this.slabOf(c, h);
      const seen = dead.get(slab);
      if (seen !== undefined) dead.set(slab, seen + 1);
      h = memory.read32(base + h + LINK);
    }
    for (const [head, seen] of dead) {
      if (seen !== perSlab) this.damage(descriptorOf(head), `an empty slab has ${seen} of ${perSlab} objects listed`);
    }
    // Pass 2: unlink.
    let link = base + c * CONTROL_ROW;
    h = memory.read32(link);
    let kept = 0;
    while (h !== 0) {
      const next = memory.read32(base + h + LINK);
      if (dead.has(this.slabOf(c, h))) memory.write32(link, next);
      else {
        link = base + h + LINK;
        kept++;
      }
      h = next;
    }
    this.listed[c] = kept;
    for (const head of dead.keys()) {
      memory.write32(base + descriptorOf(head), 0);
      this.shadow.setKind(head, pages, 0);
      this.space.unmap(head, pages);
      this.space.giveVirtual(head, pages, pages);
      this.slabs[c]!--;
    }
  }
}

export function hex(value: number): string {
  return value.toString(16).toUpperCase();
}
