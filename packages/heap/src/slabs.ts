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
 * with the heap as it was. A slab whose objects are all free is queued (at most once); when the free that empties a
 * slab brings the queued bytes past max(256 KiB, mapped / 16), the lists of the classes concerned are swept once and
 * those slabs are unmapped, so the sweep's cost is paid by the bytes it gives back and steady churn never triggers
 * it. A sweep, like the release of every slab, is validated ({@link Slabs.plan}) before the free that triggers it
 * writes anything, then done ({@link Slabs.commit}) without further checks.
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
  /** Debug mode: checks the poison of a free object before its slab is given back (panics when written). */
  checkFree: ((c: number, h: number) => void) | null = null;
  /** Queued empty slabs (first pages) per class, each at most once; `queued` holds each slab's queue state. */
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
   * checks its header (tag, seal, size within the slot less `slack`), its list head and its slab's descriptor, and
   * when the push empties the slab and makes a sweep due, validates that sweep too; only then pushes it onto its list
   * (and sweeps). Returns its requested size, or -1 (nothing changed) when the header is damaged; other damage panics
   * with nothing changed.
   */
  free(c: number, h: number, slack: number): number {
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
    const head = this.listHead(c);
    const d = descriptorOf(this.slabOf(c, h));
    const count = this.slabCount(c, d, 1);
    // The slab empties: validate the sweep this push would trigger before writing anything.
    const plan = (count & 0xffff) === 1 && this.sweepDue(c, h) ? this.plan(false, [c, h]) : null;
    if (view !== null) {
      view.setUint32(o + LINK, head, true);
      view.setUint32(o + TAG, freeWord(c), true);
    } else {
      memory.write32(at + LINK, head);
      memory.write32(at + TAG, freeWord(c));
    }
    memory.write32(this.base + c * CONTROL_ROW, h);
    memory.write32(this.base + d, count - 1);
    this.listed[c]!++;
    this.shadow.clearLive(h + HEADER_SIZE);
    if ((count & 0xffff) === 1) this.emptied(c, h, plan);
    return size;
  }

  /** Debug mode: marks the live object at `h` of class `c` (header checked by the caller) quarantined. */
  quarantine(c: number, h: number): void {
    this.memory.write32(this.base + h + TAG, quarantineWord(c));
    this.shadow.clearLive(h + HEADER_SIZE);
  }

  /** The list head of class `c`: 0 or an object of the class, else a panic (through `damage`). */
  private listHead(c: number): number {
    const head = this.memory.read32(this.base + c * CONTROL_ROW);
    if (head !== 0 && !this.inClass(c, head)) {
      this.damage(c * CONTROL_ROW, `it is 0x${hex(head)}, not an object of the class`);
    }
    return head;
  }

  /**
   * The count word of the slab descriptor at window offset `d` (a slab of class `c`): tagged with the class and
   * counting at least `atLeast` objects in use (the objects about to be freed into it), else a panic.
   */
  private slabCount(c: number, d: number, atLeast: number): number {
    const count = this.memory.read32(this.base + d);
    if (count >>> 16 !== ((SLAB_TAG << 8) | c) || (count & 0xffff) < atLeast) {
      this.damage(d, `the slab descriptor reads 0x${hex(count)}`);
    }
    return count;
  }

  /**
   * Checks, writing nothing, that the object at `h` of class `c` can be pushed onto its list (its list head and its
   * slab's descriptor; with `quarantined`, its quarantine tag), and when the push would empty the slab and make a
   * sweep due (and `sweep` allows one), validates that sweep. Returns the sweep's plan for {@link push}, or null.
   * Panics (through `damage`) on damage.
   */
  prepare(c: number, h: number, quarantined: boolean, sweep: boolean): SweepPlan | null {
    const memory = this.memory;
    if (quarantined) {
      const tag = memory.read32(this.base + h + TAG);
      if (tag !== quarantineWord(c)) this.damage(h, `a quarantined object's tag is 0x${hex(tag)}`);
    }
    this.listHead(c);
    const count = this.slabCount(c, descriptorOf(this.slabOf(c, h)), 1);
    if (!sweep || (count & 0xffff) !== 1 || !this.sweepDue(c, h)) return null;
    return this.plan(false, [c, h]);
  }

  /**
   * Checks, writing nothing, that every object of `objects` (flattened class, header pairs) can be pushed in turn:
   * each class's list head, and each slab's descriptor tagged and counting at least the objects pushed into it.
   */
  preparePushes(objects: readonly number[]): void {
    const perSlab = new Map<number, number>();
    const classes = new Set<number>();
    for (let i = 0; i < objects.length; i += 2) {
      const c = objects[i]!;
      if (!classes.has(c)) {
        classes.add(c);
        this.listHead(c);
      }
      const slab = this.slabOf(c, objects[i + 1]!);
      perSlab.set(slab, (perSlab.get(slab) ?? 0) + 1);
    }
    for (const [slab, pushes] of perSlab) this.slabCount(this.shadow.kinds[slab]! - 1, descriptorOf(slab), pushes);
  }

  /**
   * Pushes the live or quarantined object at `h` of class `c` onto its list, after {@link prepare} (or
   * {@link preparePushes}) checked it: counts it free, and when its slab empties queues it or runs `plan`.
   */
  push(c: number, h: number, plan: SweepPlan | null): void {
    const memory = this.memory;
    const at = this.base + h;
    const headAt = this.base + c * CONTROL_ROW;
    const d = this.base + descriptorOf(this.slabOf(c, h));
    const count = memory.read32(d);
    memory.write32(at + LINK, memory.read32(headAt));
    memory.write32(at + TAG, freeWord(c));
    memory.write32(headAt, h);
    memory.write32(d, count - 1);
    this.listed[c]!++;
    this.shadow.clearLive(h + HEADER_SIZE);
    if ((count & 0xffff) === 1) this.emptied(c, h, plan);
    else if (plan !== null) this.commit(plan);
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

  /** Whether queueing the slab of object `h` of class `c` (about to become empty) brings the queue past its bound. */
  private sweepDue(c: number, h: number): boolean {
    const head = this.slabOf(c, h);
    const bytes = this.emptyBytes + (this.queued[head] === QUEUED_EMPTY ? 0 : this.classes.pages[c]! * PAGE);
    return bytes > RELEASE_FLOOR && bytes > this.space.mappedPages * PAGE * RELEASE_FRACTION;
  }

  /** The slab of object `h` of class `c` just became empty: run the sweep validated for it, or queue it. */
  private emptied(c: number, h: number, plan: SweepPlan | null): void {
    if (plan !== null) {
      this.commit(plan);
      return;
    }
    const head = this.slabOf(c, h);
    if (head >= this.queued.length) {
      const queued = new Uint8Array(Math.max(4096, this.space.top * 2, head + 1));
      queued.set(this.queued);
      this.queued = queued;
    }
    const state = this.queued[head]!;
    if (state === QUEUED_EMPTY) return;
    // A slab is on its class's queue at most once: one that was reused and empties again is only counted again.
    if (state === NOT_QUEUED) this.empties[c]!.push(head);
    this.queued[head] = QUEUED_EMPTY;
    this.emptyBytes += this.classes.pages[c]! * PAGE;
  }

  /** A queued slab got an object back: it no longer counts as empty (its queue entry stays, marked reused). */
  private unqueue(c: number, d: number): void {
    const head = (d - this.base - descriptorOf(0)) / 16;
    if (this.queued[head] === QUEUED_EMPTY) {
      this.queued[head] = QUEUED_REUSED;
      this.emptyBytes -= this.classes.pages[c]! * PAGE;
    }
  }

  /** Entries on the empty-slab queues (at most one per slab). */
  get queueLength(): number {
    let length = 0;
    for (const empties of this.empties) length += empties.length;
    return length;
  }

  /**
   * Validates giving slabs back, writing nothing: with `all` every slab (the heap is emptying), else the queued empty
   * slabs. `pending` (flattened class, header pairs) are objects not yet on their lists that will be freed before
   * {@link commit}: each counts in its slab's descriptor and as listed, and may still be live in the shadow. Every candidate's descriptor must count exactly its pending
   * objects, the shadow show no other live block in it, every list be sound (bounded walk, every link a free slot
   * of its class) and list all the other objects of the slabs given back; in debug mode those objects' poison must
   * be intact. Panics (through `damage`) on the first problem.
   */
  plan(all: boolean, pending: readonly number[]): SweepPlan {
    const candidates: number[][] = Array.from({ length: this.classes.count }, () => []);
    if (all) {
      const kinds = this.shadow.kinds;
      for (let page = this.space.firstData; page < this.space.top; page++) {
        const kind = kinds[page]!;
        if (kind !== 0 && kind !== LARGE_KIND && page % this.classes.pages[kind - 1]! === 0) {
          candidates[kind - 1]!.push(page);
        }
      }
    } else {
      for (let c = 0; c < this.classes.count; c++) {
        for (const head of this.empties[c]!) if (this.queued[head] === QUEUED_EMPTY) candidates[c]!.push(head);
      }
      const c = pending[0]!;
      const head = this.slabOf(c, pending[1]!);
      if (this.queued[head] !== QUEUED_EMPTY) candidates[c]!.push(head);
    }
    const plan: SweepPlan = [];
    for (let c = 0; c < this.classes.count; c++) {
      if (candidates[c]!.length === 0) continue;
      const mine = new Set<number>();
      for (let i = 0; i < pending.length; i += 2) if (pending[i] === c) mine.add(pending[i + 1]!);
      plan.push(c, this.planClass(c, candidates[c]!, mine));
    }
    return plan;
  }

  /** {@link plan} for class `c`: the first pages of the slabs to give back. */
  private planClass(c: number, candidates: readonly number[], pending: ReadonlySet<number>): number[] {
    const memory = this.memory;
    const base = this.base;
    const pages = this.classes.pages[c]!;
    const perSlab = this.classes.perSlab[c]!;
    const dead = new Map<number, number>(); // first page -> objects of it pending or seen on the list
    for (const h of pending) {
      const head = this.slabOf(c, h);
      dead.set(head, (dead.get(head) ?? 0) + 1);
    }
    for (const head of candidates) {
      const expected = slabWord(c, dead.get(head) ?? 0);
      const word = memory.read32(base + descriptorOf(head));
      if (word !== expected) {
        this.damage(
          descriptorOf(head),
          `the slab's descriptor reads 0x${hex(word)}, expected 0x${hex(expected)}: all its objects are free`,
        );
      }
      for (let live = this.shadow.firstLive(head * PAGE, (head + pages) * PAGE); live >= 0; ) {
        if (!pending.has(live - HEADER_SIZE)) {
          this.damage(descriptorOf(head), "the slab's in-use count is 0 but it holds a live block");
        }
        live = this.shadow.firstLive(live + HEADER_SIZE, (head + pages) * PAGE);
      }
      if (!dead.has(head)) dead.set(head, 0);
    }
    let steps = 0;
    let h = memory.read32(base + c * CONTROL_ROW);
    while (h !== 0) {
      if (++steps > this.listed[c]!) this.damage(c * CONTROL_ROW, "the free list is longer than its count (a cycle?)");
      if (!this.isSlot(c, h)) {
        this.damage(c * CONTROL_ROW, `the free list of ${this.classes.name(c)} reaches 0x${hex(h)}`);
      }
      if (memory.read32(base + h + TAG) !== freeWord(c)) this.damage(h, "a listed object's tag is not free");
      const slab = this.slabOf(c, h);
      const seen = dead.get(slab);
      if (seen !== undefined) dead.set(slab, seen + 1);
      h = memory.read32(base + h + LINK);
    }
    for (const [head, seen] of dead) {
      if (seen !== perSlab) this.damage(descriptorOf(head), `an empty slab has ${seen} of ${perSlab} objects listed`);
    }
    if (this.checkFree !== null) {
      const slot = this.classes.slot[c]!;
      for (const head of dead.keys()) {
        for (let i = 0; i < perSlab; i++) {
          const object = head * PAGE + i * slot;
          if (!pending.has(object)) this.checkFree(c, object);
        }
      }
    }
    return [...dead.keys()];
  }

  /**
   * Gives back the slabs `plan` validated (after the pending objects were freed): unlinks their objects, unmaps
   * them, and empties the queues. Checks nothing: {@link plan} did.
   */
  commit(plan: SweepPlan): void {
    for (let i = 0; i < plan.length; i += 2) this.giveBack(plan[i] as number, plan[i + 1] as number[]);
    for (let c = 0; c < this.classes.count; c++) {
      for (const head of this.empties[c]!.splice(0)) this.queued[head] = NOT_QUEUED;
    }
    this.emptyBytes = 0;
  }

  /** Unlinks the objects of slabs `dead` (first pages) of class `c` from its list and unmaps them. */
  private giveBack(c: number, dead: readonly number[]): void {
    this.sweeps++;
    const memory = this.memory;
    const base = this.base;
    const pages = this.classes.pages[c]!;
    const gone = new Set(dead);
    let link = base + c * CONTROL_ROW;
    let h = memory.read32(link);
    let kept = 0;
    while (h !== 0) {
      const next = memory.read32(base + h + LINK);
      if (gone.has(this.slabOf(c, h))) memory.write32(link, next);
      else {
        link = base + h + LINK;
        kept++;
      }
      h = next;
    }
    this.listed[c] = kept;
    for (const head of dead) {
      memory.write32(base + descriptorOf(head), 0);
      this.shadow.setKind(head, pages, 0);
      this.space.unmap(head, pages);
      this.space.giveVirtual(head, pages, pages);
      this.slabs[c]!--;
    }
  }
}

/** Per class with slabs to give back: the class, then the first pages of those slabs. */
export type SweepPlan = (number | number[])[];

/** States of a slab in {@link Slabs}' empty-slab queues. */
const NOT_QUEUED = 0;
const QUEUED_EMPTY = 1;
const QUEUED_REUSED = 2;

export function hex(value: number): string {
  return value.toString(16).toUpperCase();
}
