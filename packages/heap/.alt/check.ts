import type { VirtAddr } from "@ksim/core";
import { type PatternScanner, Poison } from "./debug.js";
import { FREE_UNPOISONED } from "./debug-guard.js";
import type { HeaderCheck } from "./header.js";
import {
  CLASS_COUNT,
  CONTROL_MAGIC,
  END_MAGIC,
  FIRST_BLOCK,
  FL_COUNT,
  FREE_BIT,
  FREE_MAGIC,
  GRANULE,
  HEADER_SIZE,
  MAGIC,
  MIN_BLOCK,
  NEXT_FREE,
  PREV_FREE,
  PREV_FREE_BIT,
  PREV_PHYS,
  REQUESTED,
  SIZE_MASK,
  SL_SHIFT,
  sizeClass,
} from "./layout.js";
import type { HeapShadow } from "./shadow.js";
import { hex, type Tlsf } from "./tlsf.js";

/** What kind of damage {@link HeapProblem} reports. */
export type HeapProblemKind =
  /** The control block, the block chain, the free lists or the bitmaps are inconsistent: something wrote over them. */
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
  /** The address the problem is about (a block's pointer or the damaged byte). */
  readonly address: VirtAddr;
  readonly message: string;
}

/** The result of `heapCheck()`. */
export interface HeapCheckReport {
  /** True when no problem was found. */
  readonly ok: boolean;
  /** Blocks walked. */
  readonly liveBlocks: number;
  readonly freeBlocks: number;
  /** What is wrong, at most {@link MAX_PROBLEMS}, in address order within each kind of check. */
  readonly problems: readonly HeapProblem[];
}

/** Checks stop collecting after this many problems. */
export const MAX_PROBLEMS = 64;

/** What the check reads from the heap. */
export interface CheckContext {
  readonly tlsf: Tlsf;
  readonly shadow: HeapShadow;
  readonly header: HeaderCheck;
  readonly scanner: PatternScanner;
  readonly debug: boolean;
  readonly mappedGranules: number;
  readonly liveBlocks: number;
  readonly liveBytes: number;
  readonly liveGranules: number;
  /** Names a live block for messages. */
  readonly describe: (block: number) => string;
  readonly format: (address: VirtAddr) => string;
}

/**
 * Validates every structure of the heap in simulated RAM (see `Heap.heapCheck`) against itself and the shadow.
 * Reads, never writes; follows a link only after checking it points inside the heap, and bounds every walk, so a
 * damaged heap is reported, never faulted on or looped over.
 */
export function checkHeap(context: CheckContext): HeapCheckReport {
  const problems: HeapProblem[] = [];
  const report = (kind: HeapProblemKind, address: VirtAddr, message: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push({ kind, address, message });
  };
  if (context.tlsf.top === 0) {
    if (context.mappedGranules !== 0) report("structure", context.tlsf.base, "pages are mapped but the heap is empty");
    return { ok: problems.length === 0, liveBlocks: 0, freeBlocks: 0, problems };
  }
  const walked = walkBlocks(context, report);
  checkFreeLists(context, walked, report);
  checkCounters(context, walked, report);
  return { ok: problems.length === 0, liveBlocks: walked.liveBlocks, freeBlocks: walked.freeBlocks, problems };
}

type Report = (kind: HeapProblemKind, address: VirtAddr, message: string) => void;

interface Walked {
  liveBlocks: number;
  freeBlocks: number;
  liveBytes: number;
  liveGranules: number;
  freeGranules: number;
  /** Live headers found damaged (their requested sizes cannot be counted). */
  damaged: number;
  /** Free block starts the walk found, with their size classes. */
  freeStarts: Map<number, number>;
}

function walkBlocks(context: CheckContext, report: Report): Walked {
  const { tlsf, shadow, format } = context;
  const walked: Walked = {
    liveBlocks: 0,
    freeBlocks: 0,
    liveBytes: 0,
    liveGranules: 0,
    freeGranules: 0,
    damaged: 0,
    freeStarts: new Map(),
  };
  const base = tlsf.base;
  if (tlsf.controlMagic() !== CONTROL_MAGIC) {
    report("structure", base, `the control block's magic is ${hex(tlsf.controlMagic())}, not ${hex(CONTROL_MAGIC)}`);
  }
  const end = tlsf.top - 1;
  let prev = 0;
  let prevFree = false;
  let block = FIRST_BLOCK;
  while (block < end) {
    const address = tlsf.addressOf(block);
    const word = tlsf.sizeWord(block);
    const size = word & SIZE_MASK;
    const magic = tlsf.word(block, MAGIC);
    const free = (word & FREE_BIT) !== 0;
    const live = shadow.isLive(block);
    if (size < MIN_BLOCK || block + size > end) {
      report(
        live ? "header" : "structure",
        address + HEADER_SIZE,
        `block at ${format(address)}: size word ${hex(word)} does not make a block inside the heap: the walk stops here`,
      );
      return walked;
    }
    if (free) checkFreeLinks(context, block, word, prev, prevFree, report);
    if (free) {
      if (live || magic !== FREE_MAGIC) {
        report(
          "structure",
          address + HEADER_SIZE,
          `block at ${format(address)}: marked free (magic ${hex(magic)}) but ${live ? "the shadow says live" : "its magic is not the free magic"}`,
        );
      }
      if (prevFree) report("structure", address, `free block at ${format(address)} follows a free block`);
      walked.freeBlocks++;
      walked.freeGranules += size;
      walked.freeStarts.set(block, sizeClass(size));
      if (context.debug) checkFreePoison(context, block, size, report);
    } else if (!live) {
      report(
        "structure",
        address + HEADER_SIZE,
        `block at ${format(address)}: a live header (magic ${hex(magic)}) where the shadow knows no live block`,
      );
    } else {
      walked.liveBlocks++;
      walked.liveGranules += size;
      checkLive(context, block, size, walked, report);
    }
    prev = block;
    prevFree = free;
    block += size;
  }
  checkEnd(context, prev, prevFree, report);
  if (tlsf.top !== context.mappedGranules) {
    report(
      "structure",
      tlsf.addressOf(tlsf.top),
      `the blocks cover ${tlsf.top} granules, ${context.mappedGranules} are mapped`,
    );
  }
  // Every live start in the shadow must have been walked.
  let shadowLive = 0;
  for (let g = 0; g < tlsf.top; g++) if (shadow.isLive(g)) shadowLive++;
  if (shadowLive !== walked.liveBlocks) {
    report("structure", base, `the shadow knows ${shadowLive} live blocks, the walk found ${walked.liveBlocks}`);
  }
  return walked;
}

/** A free block's back link and previous-free flag (a live block's are part of its header check). */
function checkFreeLinks(
  context: CheckContext,
  block: number,
  word: number,
  prev: number,
  prevFree: boolean,
  report: Report,
): void {
  const { tlsf, format } = context;
  const address = tlsf.addressOf(block);
  const back = tlsf.word(block, PREV_PHYS);
  if (back !== prev) {
    report(
      "structure",
      address + HEADER_SIZE,
      `free block at ${format(address)}: back link ${back} instead of ${prev}`,
    );
  }
  if (((word & PREV_FREE_BIT) !== 0) !== prevFree) {
    report(
      "structure",
      address + HEADER_SIZE,
      `free block at ${format(address)}: its previous-free flag disagrees with the block before`,
    );
  }
}

function checkEnd(context: CheckContext, last: number, lastFree: boolean, report: Report): void {
  const { tlsf, format } = context;
  const end = tlsf.top - 1;
  const word = tlsf.sizeWord(end);
  const ok =
    tlsf.word(end, MAGIC) === END_MAGIC &&
    tlsf.word(end, PREV_PHYS) === last &&
    (word & SIZE_MASK) === 0 &&
    ((word & PREV_FREE_BIT) !== 0) === lastFree;
  if (!ok) {
    report(
      "structure",
      tlsf.addressOf(end),
      `the end marker at ${format(tlsf.addressOf(end))} was overwritten (size word ${hex(word)}, back link ${tlsf.word(end, PREV_PHYS)}, magic ${hex(tlsf.word(end, MAGIC))})`,
    );
  }
}

function checkLive(context: CheckContext, block: number, size: number, walked: Walked, report: Report): void {
  const { tlsf, header, format } = context;
  const address = tlsf.addressOf(block);
  const pointer = address + HEADER_SIZE;
  const damage = header.damage(block);
  const requested = tlsf.word(block, REQUESTED);
  if (damage !== "") {
    walked.damaged++;
    report("header", pointer, `the header of ${context.describe(block)} was overwritten (${damage})`);
    return;
  }
  walked.liveBytes += requested;
  if (!context.debug) return;
  const zone = pointer + requested;
  const bad = context.scanner.firstMismatch(zone, address + size * GRANULE - zone, Poison.redZone);
  if (bad >= 0) {
    report(
      "red-zone",
      bad,
      `Heap overflow detected: ${context.describe(block)} was written past its end at +${bad - pointer} (${format(bad)})`,
    );
  }
}

function checkFreePoison(context: CheckContext, block: number, size: number, report: Report): void {
  const { tlsf, format } = context;
  const start = tlsf.addressOf(block);
  const from = start + FREE_UNPOISONED;
  const to = start + size * GRANULE;
  const bad = context.scanner.firstMismatch(from, to - from, Poison.free);
  if (bad >= 0) {
    report(
      "poison",
      bad,
      `Write after free detected: ${format(bad)} in the free block ${format(start)} ` +
        `(${size * GRANULE} bytes) is not the free poison 0x${Poison.free.toString(16)}`,
    );
  }
}

function checkFreeLists(context: CheckContext, walked: Walked, report: Report): void {
  const { tlsf, format } = context;
  const base = tlsf.base;
  let listed = 0;
  let flExpected = 0;
  const slMaps = Array.from({ length: FL_COUNT }, (_, fl) => tlsf.slMap(fl));
  for (let cls = 0; cls < CLASS_COUNT; cls++) {
    const head = tlsf.head(cls);
    const marked = (slMaps[cls >>> SL_SHIFT]! & (1 << (cls & 31))) !== 0;
    if (marked) flExpected |= 1 << (cls >>> SL_SHIFT);
    if ((head !== 0) !== marked) {
      report("structure", base, `size class ${cls}: bitmap bit ${marked} but list head ${head}`);
    }
    let prev = 0;
    for (let block = head; block !== 0; block = tlsf.word(block, NEXT_FREE)) {
      const address = tlsf.addressOf(block);
      if (walked.freeStarts.get(block) !== cls) {
        report(
          "structure",
          base,
          `free list ${cls} links to granule ${block} (${format(address)}), not a free block of that class`,
        );
        break;
      }
      if (++listed > walked.freeBlocks) {
        report("structure", address, `the free lists hold more blocks than the heap has (a cycle?)`);
        return;
      }
      // A head's previous-free link is not maintained (see layout.ts).
      if (prev !== 0 && tlsf.word(block, PREV_FREE) !== prev) {
        report(
          "structure",
          address + HEADER_SIZE,
          `free list ${cls}: the free block at ${format(address)} has previous-free link ${tlsf.word(block, PREV_FREE)} instead of ${prev}`,
        );
      }
      prev = block;
    }
  }
  if (tlsf.flMap() !== flExpected) {
    report(
      "structure",
      base,
      `the first-level bitmap is ${hex(tlsf.flMap())}, its second-level maps say ${hex(flExpected)}`,
    );
  }
  if (listed !== walked.freeBlocks) {
    report("structure", base, `${walked.freeBlocks} free blocks in the heap, ${listed} in the free lists`);
  }
}

function checkCounters(context: CheckContext, walked: Walked, report: Report): void {
  const { tlsf } = context;
  const pairs: [string, number, number][] = [
    ["live blocks", walked.liveBlocks, context.liveBlocks],
    // A damaged header's requested size is not known: live bytes cannot be compared then.
    ["live bytes", walked.liveBytes, walked.damaged > 0 ? walked.liveBytes : context.liveBytes],
    ["live granules", walked.liveGranules, context.liveGranules],
    ["free blocks", walked.freeBlocks, tlsf.freeBlocks],
    ["free granules", walked.freeGranules, tlsf.freeGranules],
  ];
  for (const [name, actual, counted] of pairs) {
    if (actual !== counted)
      report("counters", tlsf.base, `${name}: the blocks say ${actual}, the counter says ${counted}`);
  }
}
