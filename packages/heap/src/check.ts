import type { VirtAddr } from "@ksim/core";
import { type PatternScanner, Poison } from "./debug.js";
import { describeHeaderDamage, HEADER_SIZE, type HeaderIo } from "./header.js";
import { CLASS_COUNT, Flag, GRANULE, MIN_BLOCK, sizeClass, type TlsfIndex } from "./tlsf.js";

/** What kind of damage {@link HeapProblem} reports. */
export type HeapProblemKind =
  /** The block chain, free lists or bitmaps disagree (a bug in the heap itself). */
  | "structure"
  /** The counters behind stats() disagree with the blocks. */
  | "counters"
  /** A live block's header in RAM differs from the index: something wrote over it. */
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
  readonly index: TlsfIndex;
  readonly header: HeaderIo;
  readonly scanner: PatternScanner;
  readonly debug: boolean;
  readonly base: VirtAddr;
  readonly mappedGranules: number;
  readonly liveBlocks: number;
  readonly liveBytes: number;
  readonly liveGranules: number;
  /** Names a live block for messages. */
  readonly describe: (block: number) => string;
  readonly format: (address: VirtAddr) => string;
}

/** Validates every structure of the heap; see `Heap.heapCheck`. Reads, never writes. */
export function checkHeap(context: CheckContext): HeapCheckReport {
  const problems: HeapProblem[] = [];
  const report = (kind: HeapProblemKind, address: VirtAddr, message: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push({ kind, address, message });
  };
  const walked = walkBlocks(context, report);
  checkFreeLists(context, walked.freeBlocks, report);
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
}

function walkBlocks(context: CheckContext, report: Report): Walked {
  const { index, base, format } = context;
  const walked: Walked = { liveBlocks: 0, freeBlocks: 0, liveBytes: 0, liveGranules: 0, freeGranules: 0 };
  let prev = -1;
  let prevFree = false;
  let block = 0;
  while (block < index.top) {
    const size = index.sizeOf(block);
    const flags = index.flagsOf(block);
    const address = base + block * GRANULE;
    const live = (flags & Flag.Live) !== 0;
    const free = (flags & Flag.Free) !== 0;
    if (size < MIN_BLOCK || live === free) {
      report("structure", address, `block at ${format(address)}: size ${size} granules, flags ${flags}: not a block`);
      return walked;
    }
    if (index.prevOf(block) !== prev) {
      report("structure", address, `block at ${format(address)}: back link ${index.prevOf(block)} instead of ${prev}`);
    }
    if (free && prevFree) report("structure", address, `free block at ${format(address)} follows a free block`);
    if (live) {
      walked.liveBlocks++;
      walked.liveGranules += size;
      const requested = (size - 1) * GRANULE - index.slackOf(block);
      walked.liveBytes += requested;
      checkLive(context, block, requested, report);
    } else {
      walked.freeBlocks++;
      walked.freeGranules += size;
      if (context.debug) checkFreePoison(context, block, report);
    }
    prev = block;
    prevFree = free;
    block += size;
  }
  if (block !== index.top) report("structure", base + block * GRANULE, `the blocks end past the top`);
  if (index.top !== context.mappedGranules) {
    report(
      "structure",
      base + index.top * GRANULE,
      `the blocks cover ${index.top} granules, ${context.mappedGranules} are mapped`,
    );
  }
  if (index.last !== prev) report("structure", base, `the last block is ${prev}, the index says ${index.last}`);
  return walked;
}

function checkLive(context: CheckContext, block: number, requested: number, report: Report): void {
  const { index, base, header, format } = context;
  const address = base + block * GRANULE;
  const pointer = address + HEADER_SIZE;
  const owner = index.ownerOf(block);
  const granules = index.sizeOf(block);
  if (!header.matches(address, requested, owner, granules)) {
    const damage = describeHeaderDamage(header.read(address), requested, owner, granules);
    report("header", pointer, `the header of ${context.describe(block)} was overwritten (${damage})`);
  }
  if (!context.debug) return;
  const zone = pointer + requested;
  const bad = context.scanner.firstMismatch(zone, address + granules * GRANULE - zone, Poison.redZone);
  if (bad >= 0) {
    report(
      "red-zone",
      bad,
      `Heap overflow detected: ${context.describe(block)} was written past its end at +${bad - pointer} (${format(bad)})`,
    );
  }
}

function checkFreePoison(context: CheckContext, block: number, report: Report): void {
  const { index, base, format } = context;
  const from = base + block * GRANULE + HEADER_SIZE;
  const to = base + (block + index.sizeOf(block)) * GRANULE;
  const bad = context.scanner.firstMismatch(from, to - from, Poison.free);
  if (bad >= 0) {
    report(
      "poison",
      bad,
      `Write after free detected: ${format(bad)} in the free block ${format(from - HEADER_SIZE)} ` +
        `(${to - from + HEADER_SIZE} bytes) is not the free poison 0x${Poison.free.toString(16)}`,
    );
  }
}

function checkFreeLists(context: CheckContext, freeBlocks: number, report: Report): void {
  const { index, base, format } = context;
  let listed = 0;
  for (let cls = 0; cls < CLASS_COUNT; cls++) {
    const head = index.head(cls);
    if (head >= 0 !== index.classMarked(cls)) {
      report("structure", base, `size class ${cls}: bitmap ${index.classMarked(cls)} but head ${head}`);
    }
    let prev = -1;
    for (let block = head; block >= 0; block = index.nextFreeOf(block)) {
      const address = base + block * GRANULE;
      if (++listed > freeBlocks) {
        report("structure", address, `the free lists hold more blocks than the heap has (a cycle?)`);
        return;
      }
      if ((index.flagsOf(block) & Flag.Free) === 0 || sizeClass(index.sizeOf(block)) !== cls) {
        report("structure", address, `${format(address)} is in free list ${cls} but is not a free block of that class`);
      }
      if (index.prevFreeOf(block) !== prev)
        report("structure", address, `free list ${cls}: bad back link at ${format(address)}`);
      prev = block;
    }
  }
  for (let fl = 0; fl < index.firstLevels; fl++) {
    if (!index.levelConsistent(fl))
      report("structure", base, `first-level bitmap bit ${fl} disagrees with its second level`);
  }
  if (listed !== freeBlocks)
    report("structure", base, `${freeBlocks} free blocks in the heap, ${listed} in the free lists`);
}

function checkCounters(context: CheckContext, walked: Walked, report: Report): void {
  const { index, base } = context;
  const pairs: [string, number, number][] = [
    ["live blocks", walked.liveBlocks, context.liveBlocks],
    ["live bytes", walked.liveBytes, context.liveBytes],
    ["live granules", walked.liveGranules, context.liveGranules],
    ["free blocks", walked.freeBlocks, index.freeBlocks],
    ["free granules", walked.freeGranules, index.freeGranules],
  ];
  for (const [name, actual, counted] of pairs) {
    if (actual !== counted) report("counters", base, `${name}: the blocks say ${actual}, the counter says ${counted}`);
  }
}
