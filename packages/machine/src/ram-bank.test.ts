import { InvalidArgumentError } from "@ksim/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LinearRam } from "./linear-ram.js";
import { RamArenas } from "./ram-arena.js";
import type { RamBank } from "./ram-bank.js";
import { chunkShiftFor, SparseRam } from "./sparse-ram.js";

const KiB = 1024;
const SIZE = 5 * 64 * KiB - 4 * KiB; // five chunks, the last one partial
const ZERO_CHUNK = Buffer.alloc(64 * KiB);

// These tests make hundreds of small banks: one arena of their own holds them all.
const arenas = new RamArenas(undefined, 2 ** 30);

describe("SparseRam", () => {
  it("chunks are 64 KiB up to 64 GiB and grow so the table never exceeds 2^20 entries", () => {
    expect(chunkShiftFor(2 * 2 ** 20)).toBe(16);
    expect(chunkShiftFor(2 ** 36)).toBe(16);
    expect(chunkShiftFor(2 ** 36 + 4096)).toBe(17);
    expect(chunkShiftFor(2 ** 40)).toBe(20);
    expect(chunkShiftFor(2 ** 44)).toBe(24);
  });
});

// Both kinds of bank: chunks allocated on first write, and one host buffer with the same accounting.
describe.each([
  ["SparseRam", (size: number): RamBank => new SparseRam(size)],
  ["LinearRam", (size: number): RamBank => new LinearRam(arenas.take(size)!)],
])("%s", (_, makeRam) => {
  it.each([
    ["five chunks, the last one partial", SIZE, 4],
    ["40 chunks, most of them allocated along the way", 40 * 64 * KiB, 39],
  ])("bytes, fills, bulk reads/writes and memmove copies agree with a flat Uint8Array: %s", (_, size, lastChunk) => {
    const SIZE = size;
    const arbOffset = fc.oneof(
      fc.integer({ min: 0, max: SIZE - 1 }),
      fc
        .tuple(fc.integer({ min: 1, max: lastChunk }), fc.integer({ min: -40, max: 40 }))
        .map(([c, d]) => Math.min(SIZE - 1, Math.max(0, c * 64 * KiB + d))),
    );
    const arbOp = fc.oneof(
      fc.record({ op: fc.constant("w8" as const), at: arbOffset, v: fc.nat(255) }),
      fc.record({ op: fc.constant("fill" as const), at: arbOffset, n: fc.nat(200), v: fc.nat(255) }),
      fc.record({ op: fc.constant("write" as const), at: arbOffset, data: fc.uint8Array({ maxLength: 200 }) }),
      fc.record({ op: fc.constant("copy" as const), to: arbOffset, from: arbOffset, n: fc.nat(300) }),
      fc.record({ op: fc.constant("read" as const), at: arbOffset, n: fc.nat(300) }),
    );
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 30 }), (ops) => {
        const ram = makeRam(SIZE);
        const model = new Uint8Array(SIZE);
        for (const o of ops) {
          if (o.op === "w8") {
            ram.write8(o.at, o.v);
            model[o.at] = o.v;
          } else if (o.op === "fill") {
            const n = Math.min(o.n, SIZE - o.at);
            ram.fill(o.at, n, o.v);
            model.fill(o.v, o.at, o.at + n);
          } else if (o.op === "write") {
            const data = o.data.subarray(0, SIZE - o.at);
            ram.write(o.at, data);
            model.set(data, o.at);
          } else if (o.op === "copy") {
            const n = Math.min(o.n, SIZE - o.to, SIZE - o.from);
            ram.copy(o.to, o.from, n);
            model.copyWithin(o.to, o.from, o.from + n);
          } else {
            const n = Math.min(o.n, SIZE - o.at);
            const into = new Uint8Array(n);
            ram.read(o.at, into);
            expect(Buffer.compare(into, model.subarray(o.at, o.at + n))).toBe(0);
          }
        }
        const all = new Uint8Array(SIZE);
        ram.read(0, all);
        expect(Buffer.compare(all, model)).toBe(0);
        // A chunk is allocated only if it holds (or held, until zeroed whole) a non-zero byte.
        for (let c = 0; c < ram.chunkCount; c++) {
          const chunk = Buffer.from(model.buffer, c * 64 * KiB, Math.min(64 * KiB, SIZE - c * 64 * KiB));
          if (!chunk.equals(ZERO_CHUNK.subarray(0, chunk.length))) expect(ram.isAllocated(c * 64 * KiB)).toBe(true);
        }
      }),
      { numRuns: 100 },
    );
  });

  it("writing zeros allocates nothing; zeroing a whole chunk gives its memory back", () => {
    const ram = makeRam(SIZE);
    ram.write8(100, 0);
    ram.write(70_000, new Uint8Array(5000));
    ram.fill(0, SIZE, 0);
    ram.copy(0, 128 * KiB, 64 * KiB);
    expect(ram.allocatedChunks).toBe(0);
    ram.write8(64 * KiB + 1, 9);
    expect(ram.allocatedChunks).toBe(1);
    expect(ram.allocatedBytes).toBe(64 * KiB);
    ram.fill(64 * KiB, 64 * KiB, 0);
    expect(ram.allocatedChunks).toBe(0);
    expect(ram.read8(64 * KiB + 1)).toBe(0);
  });

  it.each([
    ["read8 at size", (r: RamBank) => r.read8(SIZE)],
    ["read8 negative", (r: RamBank) => r.read8(-1)],
    ["write8 NaN offset", (r: RamBank) => r.write8(Number.NaN, 1)],
    ["write8 value 256", (r: RamBank) => r.write8(0, 256)],
    ["fill past the end", (r: RamBank) => r.fill(SIZE - 2, 3, 1)],
    ["fill byte -1", (r: RamBank) => r.fill(0, 3, -1)],
    ["write past the end", (r: RamBank) => r.write(SIZE - 1, new Uint8Array(2))],
    ["copy source past the end", (r: RamBank) => r.copy(0, SIZE - 1, 2)],
    ["copy fractional length", (r: RamBank) => r.copy(0, 8, 1.5)],
  ])("%s throws InvalidArgumentError and changes nothing", (_, call) => {
    const ram = makeRam(SIZE);
    ram.write8(0, 0x11);
    expect(() => call(ram)).toThrow(InvalidArgumentError);
    const all = new Uint8Array(SIZE);
    ram.read(0, all);
    expect(all[0]).toBe(0x11);
    expect(all.subarray(1).every((b) => b === 0)).toBe(true);
    expect(ram.allocatedChunks).toBe(1);
  });
});
