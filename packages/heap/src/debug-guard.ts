import type { VirtAddr, VirtualMemory } from "@ksim/core";
import type { SizeClasses } from "./classes.js";
import { type PatternScanner, Poison } from "./debug.js";
import { CONTROL_ROW, HEADER_SIZE, quarantineWord } from "./layout.js";
import { QUARANTINE_OBJECTS, Quarantine } from "./quarantine.js";
import type { DamageHandler, Slabs } from "./slabs.js";

/**
 * The debug mode's checks on slab objects: new blocks painted (the not-yet-written marker, then the red zone up to
 * the slot's end), freed objects poisoned and held in a FIFO quarantine of {@link QUARANTINE_OBJECTS} before they
 * go back on their list, and the poison checked when an object leaves the quarantine and when it is handed out
 * again, so a write after free is reported. Checks run before the call writes anything.
 */
export class DebugGuard {
  readonly quarantine = new Quarantine();
  /** Quarantined objects per class. */
  readonly quarantined: Int32Array;

  constructor(
    private readonly memory: VirtualMemory,
    private readonly base: VirtAddr,
    private readonly classes: SizeClasses,
    private readonly slabs: Slabs,
    private readonly scanner: PatternScanner,
    private readonly damage: DamageHandler,
  ) {
    this.quarantined = new Int32Array(classes.count);
  }

  /** Before class `c` hands out its list head: its poison must be intact. */
  checkHead(c: number): void {
    const h = this.memory.read32(this.base + c * CONTROL_ROW);
    if (h !== 0 && this.slabs.isSlot(c, h)) this.checkPoison(c, h);
  }

  /** Paints a new block: `size` bytes of the not-yet-written marker, then red zone up to `capacity` bytes. */
  paint(user: VirtAddr, from: number, size: number, capacity: number): void {
    if (size > from) this.memory.fill(user + from, size - from, Poison.uninitialised);
    this.memory.fill(user + size, capacity - size, Poison.redZone);
  }

  /** The first byte of the red zone `[user + size, user + capacity)` that was overwritten, or -1. */
  redZoneDamage(user: VirtAddr, size: number, capacity: number): number {
    return this.scanner.firstMismatch(user + size, capacity - size, Poison.redZone);
  }

  /** Poisons the freed object at `h` of class `c` and quarantines it (it is already marked quarantined in RAM). */
  hold(c: number, h: number): void {
    this.memory.fill(this.base + h + HEADER_SIZE, this.classes.user[c]!, Poison.free);
    this.quarantine.add(h, c);
    this.quarantined[c]!++;
  }

  /** Whether the quarantine is full; then its oldest object's poison is checked (panics when written). */
  full(): boolean {
    const oldest = this.quarantine.oldest();
    if (oldest === null || this.quarantine.length < QUARANTINE_OBJECTS) return false;
    this.checkPoison(oldest.c, oldest.h);
    return true;
  }

  /** Forgets the oldest quarantined object (the caller pushed it onto its list). */
  dropOldest(): void {
    const oldest = this.quarantine.oldest();
    if (oldest === null) return;
    this.quarantine.drop();
    this.quarantined[oldest.c]!--;
  }

  /**
   * Checks, writing nothing, the poison and tag of the `count` oldest quarantined objects (all by default) and
   * appends them to `out` as flattened class, header pairs. Panics on a write after free or a damaged tag.
   */
  checkOldest(out: number[], count = this.quarantine.length): void {
    const from = out.length;
    this.quarantine.collect(count, out);
    for (let i = from; i < out.length; i += 2) {
      const c = out[i]!;
      const h = out[i + 1]!;
      const tag = this.memory.read32(this.base + h);
      if (tag !== quarantineWord(c))
        this.damage(h, `a quarantined object's tag is 0x${tag.toString(16).toUpperCase()}`);
      this.checkPoison(c, h);
    }
  }

  /** Forgets every quarantined object (their slabs are being given back). */
  clear(): void {
    this.quarantine.clear();
    this.quarantined.fill(0);
  }

  /** The first byte of the free object at `h` of class `c` that is not poison, or -1. */
  poisonDamage(c: number, h: number): number {
    return this.scanner.firstMismatch(this.base + h + HEADER_SIZE, this.classes.user[c]!, Poison.free);
  }

  /** Panics (through `damage`) when the free object at `h` of class `c` is not all poison: a write after free. */
  checkPoison(c: number, h: number): void {
    const bad = this.poisonDamage(c, h);
    if (bad >= 0) {
      this.damage(
        h,
        `Write after free detected: byte +${bad - this.base - h - HEADER_SIZE} is ` +
          `0x${this.scanner.byteAt(bad).toString(16)}, freed memory should be 0x${Poison.free.toString(16)}`,
      );
    }
  }
}
