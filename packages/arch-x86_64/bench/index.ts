// pnpm bench: the MMU's hot paths against the raw typed-array limit, measured side by side in one run.
//   1. random read32 over a mapped 64 MiB region through VirtualMemory vs DataView.getUint32 over a 64 MiB buffer
//   2. TLB-miss page walks per second (X86Mmu.walk: four levels read from simulated RAM, then the TLB fill)
//   3. memset of 16 MiB through a virtual mapping vs Uint8Array.fill of a 16 MiB buffer
// Each runs over two physical memories: FlatMemory (one ArrayBuffer: what the MMU itself costs) and @ksim/machine's
// sparse chunked RAM (what a kernel on the simulated board gets), with the board's own physical read32 alongside.
import { Access, type FrameAllocator, type PhysicalMemory } from "@ksim/core";
import { Machine } from "@ksim/machine";
import { BuddyAllocator } from "@ksim/pmm";
import { X86_64 } from "../src/index.js";
import { FlatMemory } from "../src/testing/flat-memory.js";
import { FreeListFrames } from "../src/testing/free-list-frames.js";

const MiB = 1024 * 1024;
const REGION = 64 * MiB;
const READS = 1 << 21;
const WALKS = 1 << 20;
const FILL = 16 * MiB;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Runs `body` (which performs `ops` operations) `rounds` times after a warm-up; returns the median ops/s. */
function measure(ops: number, rounds: number, body: () => number): number {
  let sink = 0;
  for (let i = 0; i < 3; i++) sink += body();
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    sink += body();
    rates.push(ops / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  if (sink === 0.5) console.log("(sink)");
  return median(rates);
}

const offsets = new Float64Array(READS);
for (let i = 0; i < READS; i++) offsets[i] = Math.floor(Math.random() * (REGION / 4)) * 4;
const pages = new Float64Array(WALKS);
for (let i = 0; i < WALKS; i++) pages[i] = Math.floor(Math.random() * (REGION / 4096)) * 4096;

// Raw baselines.
const raw = new Uint8Array(REGION).fill(0x5a);
const view = new DataView(raw.buffer);
const rawRead = measure(READS, 9, () => {
  let sum = 0;
  for (let i = 0; i < READS; i++) sum += view.getUint32(offsets[i]!, true);
  return sum;
});
const rawFill = new Uint8Array(FILL).fill(1);
let fillByte = 0;
const rawMemset =
  FILL *
  measure(1, 21, () => {
    rawFill.fill(fillByte++ & 0xff);
    return rawFill[7]!;
  });

interface Result {
  label: string;
  physRead: number;
  read: number;
  walks: number;
  memset: number;
}

function run(label: string, memory: PhysicalMemory, frames: FrameAllocator, dataPhys: number): Result {
  const arch = new X86_64({ memory, frames });
  const vm = arch.memory;
  const mmu = arch.mmu;
  const base = arch.layout.heap.base;
  const mapped = vm.map(base, dataPhys, REGION, { writable: true, user: false, executable: false });
  if (!mapped.ok) throw new Error(mapped.message);
  memory.fill(dataPhys, REGION, 0x5a);
  const physRead = measure(READS, 9, () => {
    let sum = 0;
    for (let i = 0; i < READS; i++) sum += memory.read32(dataPhys + offsets[i]!);
    return sum;
  });
  const read = measure(READS, 9, () => {
    let sum = 0;
    for (let i = 0; i < READS; i++) sum += vm.read32(base + offsets[i]!);
    return sum;
  });
  const walks = measure(WALKS, 9, () => {
    let sum = 0;
    for (let i = 0; i < WALKS; i++) sum += mmu.walk(base + pages[i]!, Access.Read, false);
    return sum;
  });
  const memset =
    FILL *
    measure(1, 21, () => {
      vm.fill(base, FILL, fillByte++ & 0xff);
      return 1;
    });
  return { label, physRead, read, walks, memset };
}

const flat = new FlatMemory(128 * MiB);
const flatResult = run("FlatMemory", flat, new FreeListFrames(100 * MiB, 28 * MiB), 16 * MiB);

const machine = new Machine({ ramSize: 512 * MiB });
const buddy = new BuddyAllocator(machine.firmwareMemoryMap);
const data = buddy.allocate({ count: REGION / 4096 });
if (!data.ok) throw new Error(data.message);
const machineResult = run("Machine", machine.memory, buddy, data.address);

const m = (n: number) => `${(n / 1e6).toFixed(1)} M/s`;
const g = (n: number) => `${(n / 1e9).toFixed(1)} GB/s`;
console.log(
  `@ksim/arch-x86_64 bench (node ${process.version}); raw DataView read32 ${m(rawRead)}, raw fill ${g(rawMemset)}`,
);
console.log("| physical memory | case | physical access | through the MMU | ratio to raw | target |");
console.log("|---|---|---|---|---|---|");
for (const r of [flatResult, machineResult]) {
  console.log(
    `| ${r.label} | random read32, 64 MiB | ${m(r.physRead)} | ${m(r.read)} | ${(r.read / rawRead).toFixed(2)}x (raw ${m(rawRead)}) | >= 0.5x |`,
  );
  console.log(`| ${r.label} | TLB-miss page walks | - | ${m(r.walks)} | - | >= 20 M/s |`);
  console.log(
    `| ${r.label} | memset 16 MiB | - | ${g(r.memset)} | ${(r.memset / rawMemset).toFixed(2)}x (raw ${g(rawMemset)}) | >= 0.8x |`,
  );
}
