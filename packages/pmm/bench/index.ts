// pnpm bench: the buddy allocator against the original kernel's first-fit bitmap design, measured side by side in
// one run. Each figure is the median of 5 timed rounds after a warm-up round.
import type { FirmwareMemoryMap, FrameAllocator } from "@ksim/core";
import { BuddyAllocator, formatBytes } from "../src/index.js";
import { BitmapAllocator } from "./bitmap-allocator.js";

const MiB = 0x10_0000;
const GiB = 0x4000_0000;
const PAGE = 4096;

/** A PC-like map: RAM to 3 GiB, the PCI hole, the rest from 4 GiB. */
function pcMap(ram: number): FirmwareMemoryMap {
  const low = Math.min(ram, 3 * GiB);
  const map = [
    { base: 0, length: MiB, type: 2 as const },
    { base: MiB, length: low - MiB, type: 1 as const },
    { base: 0xfec0_0000, length: 0x140_0000, type: 2 as const },
  ];
  if (ram > low) map.push({ base: 4 * GiB, length: ram - low, type: 1 as const });
  return map;
}

/** Runs `body` (which performs `ops` operations) 1 + 5 times; returns the median rate in ops/s. */
function rate(ops: number, body: () => void): number {
  body();
  const rates: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    body();
    rates.push(ops / ((performance.now() - t) / 1000));
  }
  return rates.sort((a, b) => a - b)[2]!;
}

/** Median milliseconds of `body` over 5 runs after one warm-up. */
function millis(body: () => void): number {
  body();
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    body();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[2]!;
}

const fmt = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(1);

/**
 * Half-fragments `a`: every usable frame below `below` is allocated in large runs, then every other frame is freed,
 * so half of that memory is free but no two free frames are adjacent. The same calls on every allocator.
 */
function fragmentBelow(a: FrameAllocator, below: number): void {
  for (let count = 1 << 16; count >= 2; count >>>= 1) {
    for (;;) {
      const r = a.allocate({ count, limit: below });
      if (!r.ok) break;
      for (let i = 0; i < count; i += 2) a.free(r.address + i * PAGE, 1);
    }
  }
}

function order0Pairs(a: FrameAllocator, n: number): () => void {
  return () => {
    for (let i = 0; i < n; i++) a.free(a.allocFrame(), 1);
  };
}

/** 256 frames allocated, then the 256 freed: exercises cache refills and drains, not only one hot frame. */
function order0Batches(a: FrameAllocator, rounds: number): () => void {
  const held = new Float64Array(256);
  return () => {
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < 256; i++) held[i] = a.allocFrame();
      for (let i = 0; i < 256; i++) a.free(held[i]!, 1);
    }
  };
}

function contiguousPairs(a: FrameAllocator, n: number, count: number): () => void {
  return () => {
    for (let i = 0; i < n; i++) {
      const r = a.allocate({ count });
      if (!r.ok) throw new Error(`allocation failed: ${r.message}`);
      a.free(r.address, count);
    }
  };
}

const rows: string[][] = [];
const row = (...cells: string[]) => rows.push(cells);

// 1. Order-0 allocation and free on a 16 GiB machine.
const map16 = pcMap(16 * GiB);
const buddy = new BuddyAllocator(map16);
const buddyRaw = new BuddyAllocator(map16, { frameCache: 0 });
const bitmap = new BitmapAllocator(map16);
const N = 2_000_000;
const pairsBuddy = rate(N, order0Pairs(buddy, N));
const pairsRaw = rate(N / 10, order0Pairs(buddyRaw, N / 10));
const pairsBitmap = rate(N, order0Pairs(bitmap, N));
row(
  "order-0 alloc+free pairs/s, fresh 16 GiB",
  `buddy ${fmt(pairsBuddy)}`,
  `bitmap ${fmt(pairsBitmap)}`,
  `${(pairsBuddy / pairsBitmap).toFixed(1)}x`,
);
row("  same, order-0 ops/s (2 per pair)", `buddy ${fmt(2 * pairsBuddy)}`, `bitmap ${fmt(2 * pairsBitmap)}`, "");
row("  buddy without the frame cache (split+merge 18 orders each pair)", `${fmt(pairsRaw)}`, "", "");
const batchBuddy = rate(2000 * 512, order0Batches(buddy, 2000));
const batchBitmap = rate(200 * 512, order0Batches(bitmap, 200));
row(
  "order-0 ops/s, 256 allocs then 256 frees",
  `buddy ${fmt(batchBuddy)}`,
  `bitmap ${fmt(batchBitmap)}`,
  `${(batchBuddy / batchBitmap).toFixed(1)}x`,
);

// 2. 512-frame (2 MiB) contiguous runs, 16 GiB machine with its lower half fragmented.
const fragBuddy = new BuddyAllocator(map16);
const fragBitmap = new BitmapAllocator(map16);
const fragTime = performance.now();
fragmentBelow(fragBuddy, 8 * GiB);
fragmentBelow(fragBitmap, 8 * GiB);
const setupMs = performance.now() - fragTime;
const s = fragBuddy.stats();
const fragBuddyRate = rate(20_000, contiguousPairs(fragBuddy, 20_000, 512));
const fragBitmapRate = rate(20, contiguousPairs(fragBitmap, 20, 512));
row(
  `512-frame alloc+free/s, lower half fragmented (${fmt(s.freeFrames)} of ${fmt(s.usableFrames)} frames free)`,
  `buddy ${fmt(fragBuddyRate)}`,
  `bitmap ${fmt(fragBitmapRate)}`,
  `${(fragBuddyRate / fragBitmapRate).toFixed(0)}x`,
);
const freshRate = rate(20_000, contiguousPairs(new BuddyAllocator(map16), 20_000, 512));
const freshBitmapRate = rate(2000, contiguousPairs(new BitmapAllocator(map16), 2000, 512));
row(
  "512-frame alloc+free/s, fresh 16 GiB",
  `buddy ${fmt(freshRate)}`,
  `bitmap ${fmt(freshBitmapRate)}`,
  `${(freshRate / freshBitmapRate).toFixed(1)}x`,
);
// The same with the upper half fragmented instead: first fit now finds a run at once, the buddy still does.
const upBuddy = new BuddyAllocator(map16);
const upBitmap = new BitmapAllocator(map16);
for (const a of [upBuddy, upBitmap]) {
  a.reserve(MiB, 3 * GiB - MiB);
  a.reserve(4 * GiB, 4 * GiB);
  fragmentBelow(a, 17 * GiB);
  a.unreserve(MiB, 3 * GiB - MiB);
  a.unreserve(4 * GiB, 4 * GiB);
}
const upBuddyRate = rate(20_000, contiguousPairs(upBuddy, 20_000, 512));
const upBitmapRate = rate(2000, contiguousPairs(upBitmap, 2000, 512));
row(
  "512-frame alloc+free/s, upper half fragmented",
  `buddy ${fmt(upBuddyRate)}`,
  `bitmap ${fmt(upBitmapRate)}`,
  `${(upBuddyRate / upBitmapRate).toFixed(1)}x`,
);

// 3. Initialisation and metadata size.
for (const ram of [16 * GiB, 64 * GiB, 1024 * GiB]) {
  const map = pcMap(ram);
  let a: BuddyAllocator | undefined;
  const ms = millis(() => {
    a = new BuddyAllocator(map);
  });
  const bytes = a!.metadataBytes();
  const one = a!.allocFrame();
  a!.free(one);
  row(`init ${formatBytes(ram)}`, `${ms.toFixed(2)} ms`, `metadata ${formatBytes(bytes)}`, "");
}
{
  // Metadata once every frame of a 64 GiB machine has been allocated (every frame-table section exists).
  const a = new BuddyAllocator(pcMap(64 * GiB));
  for (let count = 1 << 18; count >= 1; count >>>= 1) while (a.allocate({ count }).ok);
  row("64 GiB, every frame allocated", "", `metadata ${formatBytes(a.metadataBytes())}`, "");
}

const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
console.log(`@ksim/pmm benchmark (node ${process.version}); fragmenting took ${setupMs.toFixed(0)} ms`);
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  |  "));
