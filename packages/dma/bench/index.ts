// @ksim/dma benchmarks: the window allocator against a model of the original kernel's bitmap pool, and the DMA/MMIO
// calls end to end on the real stack (machine + buddy allocator + x86-64 page tables) against their floor, the
// architecture's own map/unmap. Run: npx --yes pnpm@10.34.9 --filter @ksim/dma bench
import { X86_64 } from "@ksim/arch-x86_64";
import { Machine } from "@ksim/machine";
import { BuddyAllocator } from "@ksim/pmm";
import { Dma, RangeAllocator } from "../src/index.js";

const PAGE = 0x1000;
const GiB = 0x4000_0000;
const DMA_BASE = 0xf800_0000_0000;

/** Runs `step` (which does `batch` operations) for about `ms` after a warm-up; returns operations per second. */
function rate(step: () => void, batch: number, ms = 700): number {
  const warmUntil = performance.now() + 150;
  while (performance.now() < warmUntil) step();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    step();
    ops += batch;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

/** xorshift32, so every candidate sees the same sequence. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/**
 * A model of the original `pool_t` (misc/pool.c): one byte per 4 KiB chunk (the original's bitmap took a byte
 * per chunk), first fit by scanning from the start for a run of free bytes. 64 GiB of window is a 16 MiB bitmap.
 */
class BitmapPool {
  readonly map: Uint8Array;
  constructor(
    readonly base: number,
    size: number,
  ) {
    this.map = new Uint8Array(size / PAGE);
  }
  allocate(bytes: number): number {
    const n = bytes / PAGE;
    const map = this.map;
    let run = 0;
    for (let i = 0; i < map.length; i++) {
      if (map[i] !== 0) {
        run = 0;
        continue;
      }
      if (++run === n) {
        map.fill(1, i + 1 - n, i + 1);
        return this.base + (i + 1 - n) * PAGE;
      }
    }
    return -1;
  }
  free(address: number, bytes: number): void {
    const i = (address - this.base) / PAGE;
    this.map.fill(0, i, i + bytes / PAGE);
  }
}

interface Allocator {
  allocate(bytes: number): number;
  free(address: number, bytes: number): void;
}

/** Fills to `live` ranges of 1..16 pages, then measures free-one-random + allocate-one churn. */
function churn(make: () => Allocator, live: number): number {
  const a = make();
  const random = rng(12345);
  const addresses = new Float64Array(live);
  const sizes = new Float64Array(live);
  for (let i = 0; i < live; i++) {
    sizes[i] = (1 + Math.floor(random() * 16)) * PAGE;
    addresses[i] = a.allocate(sizes[i]!);
  }
  const batch = 1000;
  return rate(() => {
    for (let k = 0; k < batch; k++) {
      const i = Math.floor(random() * live);
      a.free(addresses[i]!, sizes[i]!);
      sizes[i] = (1 + Math.floor(random() * 16)) * PAGE;
      const address = a.allocate(sizes[i]!);
      if (address < 0) throw new Error("window full");
      addresses[i] = address;
    }
  }, batch);
}

function stack() {
  const machine = new Machine({ ramSize: 256 * 0x10_0000 });
  const frames = new BuddyAllocator(machine.firmwareMemoryMap);
  const arch = new X86_64({ memory: machine.memory, frames });
  return { machine, frames, arch, dma: new Dma({ arch, frames }) };
}

const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(1)} k`);
const rows: Array<[string, string, string]> = [];

// 1. The window allocator.
for (const live of [1_000, 10_000, 100_000]) {
  const treap = churn(() => new RangeAllocator(DMA_BASE, 64 * GiB), live);
  const bitmap = live <= 10_000 ? churn(() => new BitmapPool(DMA_BASE, 64 * GiB), live) : Number.NaN;
  rows.push([`RangeAllocator churn, ${live} live ranges (free+alloc/s)`, fmt(treap), ""]);
  if (!Number.isNaN(bitmap)) {
    rows.push([
      `  original-style byte-map pool, same sequence`,
      fmt(bitmap),
      `RangeAllocator ${(treap / bitmap).toFixed(0)}x`,
    ]);
  }
}

// 2. DMA and MMIO end to end, and their floor.
{
  const { arch, dma, frames } = stack();
  const protection = { writable: true, user: false, executable: false, memoryType: 0 as const, global: true };
  // Warm the window's page tables, so every candidate runs with tables present.
  dma.mem_freeDMA(dma.mem_allocateDMA(16 * PAGE), 16 * PAGE);
  dma.mem_unmapMMIO(dma.mem_mapMMIO(0xd000_0000, PAGE), PAGE);
  const mapOrThrow = (virt: number, phys: number, size: number) => {
    const r = arch.memory.map(virt, phys, size, protection);
    if (!r.ok) throw new Error(r.message);
  };
  const batch = 200;
  const floor1 = rate(() => {
    for (let k = 0; k < batch; k++) {
      const f = frames.allocFrame();
      mapOrThrow(DMA_BASE, f, PAGE);
      arch.memory.fill(DMA_BASE, PAGE, 0);
      arch.memory.unmap(DMA_BASE, PAGE);
      frames.free(f);
    }
  }, batch);
  const dma1 = rate(() => {
    for (let k = 0; k < batch; k++) dma.mem_freeDMA(dma.mem_allocateDMA(PAGE), PAGE);
  }, batch);
  const dma16 = rate(() => {
    for (let k = 0; k < batch; k++) dma.mem_freeDMA(dma.mem_allocateDMA(16 * PAGE), 16 * PAGE);
  }, batch);
  const floor16 = rate(() => {
    for (let k = 0; k < batch; k++) {
      const r = frames.allocate({ count: 16 });
      if (!r.ok) throw new Error(r.message);
      mapOrThrow(DMA_BASE, r.address, 16 * PAGE);
      arch.memory.fill(DMA_BASE, 16 * PAGE, 0);
      arch.memory.unmap(DMA_BASE, 16 * PAGE);
      frames.free(r.address, 16);
    }
  }, batch);
  const mmio = rate(() => {
    for (let k = 0; k < batch; k++) dma.mem_unmapMMIO(dma.mem_mapMMIO(0xd000_0010, 0x100), 0x100);
  }, batch);
  const mmioFloor = rate(() => {
    for (let k = 0; k < batch; k++) {
      mapOrThrow(0xfff0_0000_0000, 0xd000_0000, PAGE);
      arch.memory.unmap(0xfff0_0000_0000, PAGE);
    }
  }, batch);
  rows.push([
    "mem_allocateDMA + mem_freeDMA, 1 page (ops/s)",
    fmt(dma1),
    `${((dma1 / floor1) * 100).toFixed(0)}% of floor`,
  ]);
  rows.push(["  floor: allocFrame + map + zero + unmap + free", fmt(floor1), ""]);
  rows.push([
    "mem_allocateDMA + mem_freeDMA, 16 pages (ops/s)",
    fmt(dma16),
    `${((dma16 / floor16) * 100).toFixed(0)}% of floor`,
  ]);
  rows.push(["  floor: allocate(16) + map + zero + unmap + free", fmt(floor16), ""]);
  rows.push([
    "mem_mapMMIO + mem_unmapMMIO, 1 page (ops/s)",
    fmt(mmio),
    `${((mmio / mmioFloor) * 100).toFixed(0)}% of floor`,
  ]);
  rows.push(["  floor: map + unmap", fmt(mmioFloor), ""]);
}

const width = Math.max(...rows.map((r) => r[0].length));
console.log(`@ksim/dma benchmarks (Node ${process.version})\n`);
console.log(`${"case".padEnd(width)}  ${"rate".padStart(10)}  ratio`);
for (const [name, value, ratio] of rows) console.log(`${name.padEnd(width)}  ${value.padStart(10)}  ${ratio}`);
