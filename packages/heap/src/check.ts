import type { VirtAddr, VirtualMemory } from "@ksim/core";
import type { SizeClasses } from "./classes.js";
import { Poison } from "./debug.js";
import type { DebugGuard } from "./debug-guard.js";
import type { BlockFacts, Inspector } from "./inspect.js";
import { type LargeBlocks, pagesFor } from "./large.js";
import {
  CONTROL_MAGIC,
  CONTROL_ROW,
  descriptorOf,
  freeWord,
  HEADER_SIZE,
  PAGE,
  PAGES_PER_DESCRIPTOR_PAGE,
  quarantineWord,
  slabWord,
} from "./layout.js";
import { type HeapShadow, LARGE_KIND } from "./shadow.js";
import { hex, type Slabs } from "./slabs.js";
import type { HeapSpace } from "./space.js";

/** What kind of damage {@link HeapProblem} reports. */
export type HeapProblemKind =
  /** The control page, a descriptor, a free list or a free object's tag is inconsistent: something wrote over it. */
  | "structure"
  /** The counters behind stats() disagree with the blocks. */
  | "counters"
  /** A live block's header in RAM is not a consistent live header: something wrote over it. */
  | "header"
  /** Debug mode: bytes after a live block's end were written (an overflow). */
  | "red-zone"
  /** Debug mode: freed memory was written (a use after free). */
  | "poison";

/** One thing {@link checkHeap} found wrong. */
export interface HeapProblem {
  readonly kind: HeapProblemKind;
  /** The address the problem is about (a block's pointer, a descriptor, a list head or the damaged byte). */
  readonly address: VirtAddr;
  readonly message: string;
}

/** The result of `heapCheck()`. */
export interface HeapCheckReport {
  /** True when no problem was found. */
  readonly ok: boolean;
  /** Live blocks found (slab objects with a live header, large blocks). */
  readonly liveBlocks: number;
  /** Objects found on the free lists. */
  readonly freeObjects: number;
  readonly slabs: number;
  readonly largeBlocks: number;
  /** What is wrong, at most {@link MAX_PROBLEMS}. */
  readonly problems: readonly HeapProblem[];
}

/** Problems a report lists at most. */
export const MAX_PROBLEMS = 32;

/** What {@link checkHeap} reads. */
export interface CheckContext {
  readonly memory: VirtualMemory;
  readonly base: VirtAddr;
  readonly classes: SizeClasses;
  readonly shadow: HeapShadow;
  readonly space: HeapSpace;
  readonly slabs: Slabs;
  readonly large: LargeBlocks;
  readonly inspector: Inspector;
  readonly guard: DebugGuard | null;
  readonly redZone: number;
  readonly liveBlocks: number;
  readonly liveBytes: number;
  readonly describe: (block: BlockFacts) => string;
}

/** Validates the heap's structures in RAM against the shadow and the counters; reads only, never follows a link blindly. */
export function checkHeap(context: CheckContext): HeapCheckReport {
  return new Checker(context).run();
}

class Checker {
  private readonly problems: HeapProblem[] = [];
  /** Free objects (header offsets) found in the slabs, per class. */
  private readonly freeSlots: Set<number>[];
  private readonly quarantined: Set<number>;
  private live = 0;
  private liveBytes = 0;
  private slabCount = 0;
  private listedTotal = 0;

  constructor(private readonly context: CheckContext) {
    this.freeSlots = Array.from({ length: context.classes.count }, () => new Set());
    this.quarantined = new Set();
    context.guard?.quarantine.forEach((h) => {
      this.quarantined.add(h);
    });
  }

  run(): HeapCheckReport {
    this.controlPage();
    this.slabPages();
    for (let c = 0; c < this.context.classes.count; c++) this.freeList(c);
    this.largeBlocks();
    this.otherDescriptors();
    this.counters();
    return {
      ok: this.problems.length === 0,
      liveBlocks: this.live,
      freeObjects: this.listedTotal,
      slabs: this.slabCount,
      largeBlocks: this.context.large.spans.size,
      problems: this.problems,
    };
  }

  private report(kind: HeapProblemKind, offset: number, message: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ kind, address: this.context.base + offset, message });
  }

  private controlPage(): void {
    const { memory, base, classes, slabs } = this.context;
    const page = new DataView(new ArrayBuffer(PAGE));
    memory.read(base, new Uint8Array(page.buffer));
    for (let offset = 0; offset < PAGE; offset += 4) {
      const word = page.getUint32(offset, true);
      const c = offset / CONTROL_ROW;
      if (offset % CONTROL_ROW === 0 && c < classes.count) {
        if (word !== 0 && !slabs.isSlot(c, word)) {
          this.report("structure", offset, `the control page's list head of ${classes.name(c)} is 0x${hex(word)}`);
        }
      } else if (word !== (offset === classes.count * CONTROL_ROW ? CONTROL_MAGIC : 0)) {
        this.report("structure", offset, `the control page was overwritten at +${offset} (0x${hex(word)})`);
      }
    }
  }

  private slabPages(): void {
    const { shadow, space, classes } = this.context;
    for (let page = space.firstData; page < space.top; page++) {
      const kind = shadow.kinds[page]!;
      if (kind === 0 || kind === LARGE_KIND) continue;
      const c = kind - 1;
      if (page % classes.pages[c]! !== 0) continue;
      this.slab(c, page);
      this.slabCount++;
    }
  }

  /** Checks the slab of class `c` at `first`: its descriptor, then every slot's header against the shadow. */
  private slab(c: number, first: number): void {
    const { memory, base, classes, shadow, guard } = this.context;
    const pages = classes.pages[c]!;
    const slot = classes.slot[c]!;
    if (!this.mapped(first, pages, `the ${classes.name(c)} slab at ${this.format(first * PAGE)}`)) return;
    const bytes = new Uint8Array(pages * PAGE);
    memory.read(base + first * PAGE, bytes);
    const view = new DataView(bytes.buffer);
    let inUse = 0;
    for (let i = 0; i < classes.perSlab[c]!; i++) {
      const h = first * PAGE + i * slot;
      const tag = view.getUint32(i * slot, true);
      const live = shadow.isLive(h + HEADER_SIZE);
      if (live) {
        inUse++;
        this.liveObject(h, bytes.subarray(i * slot, (i + 1) * slot));
      } else if (tag === freeWord(c) || (guard !== null && tag === quarantineWord(c) && this.quarantined.has(h))) {
        if (tag === freeWord(c)) this.freeSlots[c]!.add(h);
        else inUse++;
        if (guard !== null) this.poison(h, bytes.subarray(i * slot + HEADER_SIZE, (i + 1) * slot));
      } else {
        this.report("structure", h, `the free object at ${this.format(h)} has a damaged tag 0x${hex(tag)}`);
      }
    }
    const descriptor = this.descriptor(first);
    if (descriptor[0] !== slabWord(c, inUse) || descriptor[1] !== 0 || descriptor[2] !== 0 || descriptor[3] !== 0) {
      this.report(
        "structure",
        descriptorOf(first),
        `the descriptor of the ${classes.name(c)} slab at ${this.format(first * PAGE)} reads 0x${hex(descriptor[0]!)}, ` +
          `expected 0x${hex(slabWord(c, inUse))} (${inUse} objects in use)`,
      );
    }
  }

  private liveObject(h: number, slot: Uint8Array): void {
    const { inspector, redZone, guard } = this.context;
    const block = inspector.at(h + HEADER_SIZE);
    if (!block.intact) {
      this.report("header", h + HEADER_SIZE, `the header of ${this.context.describe(block)} was overwritten`);
      return;
    }
    this.live++;
    this.liveBytes += block.size;
    if (guard === null || redZone === 0) return;
    const from = HEADER_SIZE + block.size;
    const at = slot.subarray(from).findIndex((byte) => byte !== Poison.redZone);
    if (at >= 0) {
      this.report(
        "red-zone",
        h + from + at,
        `Heap overflow detected: ${this.context.describe(block)} was written past its end at +${block.size + at} ` +
          `(0x${hex(slot[from + at]!)})`,
      );
    }
  }

  private poison(h: number, user: Uint8Array): void {
    const at = user.findIndex((byte) => byte !== Poison.free);
    if (at >= 0) {
      this.report(
        "poison",
        h + HEADER_SIZE + at,
        `Write after free detected: byte +${at} of the free object at ${this.format(h + HEADER_SIZE)} is ` +
          `0x${user[at]!.toString(16)}, freed memory should be 0x${Poison.free.toString(16)}`,
      );
    }
  }

  /** Walks class `c`'s free list, at most as many steps as objects it should hold, checking every link. */
  private freeList(c: number): void {
    const { memory, base, classes, slabs } = this.context;
    const found = this.freeSlots[c]!;
    const seen = new Set<number>();
    let h = memory.read32(base + c * CONTROL_ROW);
    let from = `the list head of ${classes.name(c)}`;
    while (h !== 0) {
      if (!slabs.isSlot(c, h) || !found.has(h) || seen.has(h)) {
        const why = seen.has(h) ? "a cycle" : found.has(h) ? "" : "not a free object of the class";
        this.report(
          "structure",
          c * CONTROL_ROW,
          `${from} links to 0x${hex(h)}: ${why || "outside the class's slabs"}`,
        );
        break;
      }
      seen.add(h);
      if (seen.size > found.size) break;
      from = `the free object at ${this.format(h + HEADER_SIZE)}`;
      h = memory.read32(base + h + 8);
    }
    this.listedTotal += seen.size;
    if (seen.size !== found.size || seen.size !== slabs.listed[c]) {
      this.report(
        "structure",
        c * CONTROL_ROW,
        `the free list of ${classes.name(c)} reaches ${seen.size} objects; its slabs have ${found.size} free ` +
          `objects and its count says ${slabs.listed[c]}`,
      );
    }
  }

  private largeBlocks(): void {
    const { large, redZone, guard, inspector, shadow, memory, base } = this.context;
    for (const page of large.spans.keys()) {
      const mapped = large.mapped(page);
      if (!this.mapped(page, mapped, `the large block at ${this.format(page * PAGE)}`)) continue;
      const reserved = large.spans.get(page)!.reserved;
      if (mapped < reserved && memory.translate(base + (page + mapped) * PAGE) >= 0) {
        this.report(
          "structure",
          (page + mapped) * PAGE,
          `the page after the large block at ${this.format(page * PAGE)} is mapped`,
        );
      }
      const block = inspector.at(page * PAGE);
      if (!block.intact || mapped !== pagesFor(block.size, redZone) || !shadow.isLive(page * PAGE)) {
        this.report("header", page * PAGE, `the header of ${this.context.describe(block)} was overwritten`);
        continue;
      }
      this.live++;
      this.liveBytes += block.size;
      if (guard === null) continue;
      const tail = new Uint8Array(mapped * PAGE - block.size);
      memory.read(base + page * PAGE + block.size, tail);
      const at = tail.findIndex((byte) => byte !== Poison.redZone);
      if (at >= 0) {
        this.report(
          "red-zone",
          page * PAGE + block.size + at,
          `Heap overflow detected: ${this.context.describe(block)} was written past its end at +${block.size + at}`,
        );
      }
    }
  }

  private counters(): void {
    const { liveBlocks, liveBytes, shadow, space } = this.context;
    let bits = 0;
    shadow.forEachLive(space.top * PAGE, () => bits++);
    if (this.live !== liveBlocks || this.liveBytes !== liveBytes || bits !== liveBlocks) {
      this.report(
        "counters",
        0,
        `the counters say ${liveBlocks} live blocks of ${liveBytes} bytes; the heap holds ${this.live} intact ones of ` +
          `${this.liveBytes} bytes and the shadow ${bits}`,
      );
    }
  }

  /** Whether pages `[first, first + pages)` are all mapped; reports the first that is not. */
  private mapped(first: number, pages: number, what: string): boolean {
    const { memory, base } = this.context;
    for (let page = first; page < first + pages; page++) {
      if (memory.translate(base + page * PAGE) < 0) {
        this.report("structure", page * PAGE, `page ${page - first} of ${what} is not mapped`);
        return false;
      }
    }
    return true;
  }

  private descriptor(page: number): Uint32Array {
    const { memory, base } = this.context;
    const at = base + descriptorOf(page);
    return Uint32Array.of(memory.read32(at), memory.read32(at + 4), memory.read32(at + 8), memory.read32(at + 12));
  }

  /** Every mapped descriptor but those of slabs' and large blocks' first pages must be zero. */
  private otherDescriptors(): void {
    const { memory, base, space, shadow, classes, large } = this.context;
    const words = new Uint32Array(PAGE / 4);
    const bytes = new Uint8Array(words.buffer);
    for (let d = 0; d < space.firstData; d++) {
      if (!space.descriptorMapped(d)) continue;
      memory.read(base + descriptorOf(d * PAGES_PER_DESCRIPTOR_PAGE), bytes);
      for (let i = 0; i < PAGES_PER_DESCRIPTOR_PAGE; i++) {
        const page = d * PAGES_PER_DESCRIPTOR_PAGE + i;
        const kind = shadow.kinds[page] ?? 0;
        const first = kind === LARGE_KIND ? large.spans.has(page) : kind !== 0 && page % classes.pages[kind - 1]! === 0;
        if (first) continue;
        const j = i * 4;
        if ((words[j]! | words[j + 1]! | words[j + 2]! | words[j + 3]!) !== 0) {
          this.report(
            "structure",
            descriptorOf(page),
            `the descriptor of the page at ${this.format(page * PAGE)} was overwritten`,
          );
        }
      }
    }
  }

  private format(offset: number): string {
    return `0x${hex(this.context.base + offset)}`;
  }
}
