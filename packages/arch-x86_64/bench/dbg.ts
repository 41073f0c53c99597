import { FlatMemory } from "../src/testing/flat-memory.js";
import { FreeListFrames } from "../src/testing/free-list-frames.js";
import { X86_64 } from "../src/index.js";
const MiB = 1024 * 1024, REGION = 64 * MiB, N = 1 << 21;
const memory = new FlatMemory(128 * MiB);
const arch = new X86_64({ memory, frames: new FreeListFrames(100 * MiB, 28 * MiB) });
const base = arch.layout.heap.base;
arch.memory.map(base, 16 * MiB, REGION, { writable: true, user: false, executable: false });
memory.fill(16 * MiB, REGION, 0x5a);
const offs = new Float64Array(N); for (let i = 0; i < N; i++) offs[i] = Math.floor(Math.random() * (REGION / 4)) * 4;
const raw = new Uint8Array(REGION).fill(0x5a); const view = new DataView(raw.buffer);
const vm = arch.memory;
function t(name: string, f: () => number) { for (let r = 0; r < 5; r++) { const t0 = performance.now(); const s = f(); if (r > 1) console.log(name, (N / (performance.now() - t0) / 1000).toFixed(1), "M/s", s > 0); } }
t("raw", () => { let s = 0; for (let i = 0; i < N; i++) s += view.getUint32(offs[i]!, true); return s; });
t("flat", () => { let s = 0; for (let i = 0; i < N; i++) s += memory.read32(16 * MiB + offs[i]!); return s; });
arch.mmu.resetTlbStats();
t("vm.read32", () => { let s = 0; for (let i = 0; i < N; i++) s += vm.read32(base + offs[i]!); return s; });
console.log(arch.mmu.tlbStats);
