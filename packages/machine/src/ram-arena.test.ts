import { describe, expect, it } from "vitest";
import { LinearRam } from "./linear-ram.js";
import { RamArenas } from "./ram-arena.js";

const KiB = 1024;
const MiB = 2 ** 20;

/** An allocator that records what it was asked for and refuses sizes above `limit` as V8 does (RangeError). */
function host(limit = Number.POSITIVE_INFINITY) {
  const asked: number[] = [];
  const allocate = (bytes: number) => {
    asked.push(bytes);
    if (bytes > limit) throw new RangeError("Array buffer allocation failed");
    return new ArrayBuffer(bytes);
  };
  return { asked, allocate };
}

describe("RamArenas", () => {
  it("hands out 64 KiB-aligned slices that never overlap, several to an arena, a new arena when one is full", () => {
    const { asked, allocate } = host();
    const arenas = new RamArenas(allocate, MiB);
    const slices = [100 * KiB, 64 * KiB, 300 * KiB, 520 * KiB, 4 * KiB].map((size) => arenas.take(size)!);
    expect(asked).toEqual([MiB, MiB]); // 128 + 64 + 320 + 576 KiB > 1 MiB: the fourth opens a second arena
    for (const s of slices) expect(s.offset % (64 * KiB)).toBe(0);
    expect(slices.map((s) => s.size)).toEqual([100 * KiB, 64 * KiB, 300 * KiB, 520 * KiB, 4 * KiB]);
    expect(slices[0]!.arena).toBe(slices[2]!.arena);
    expect(slices[3]!.arena).not.toBe(slices[0]!.arena);
    expect(slices[4]!.arena).toBe(slices[3]!.arena);
    for (const a of slices)
      for (const b of slices) {
        if (a === b || a.arena !== b.arena) continue;
        expect(a.offset + a.size <= b.offset || b.offset + b.size <= a.offset).toBe(true);
      }
  });

  it("a slice larger than the arena size gets an arena of exactly its (rounded) size", () => {
    const { asked, allocate } = host();
    const arenas = new RamArenas(allocate, MiB);
    const slice = arenas.take(3 * MiB + 4 * KiB)!;
    expect(asked).toEqual([3 * MiB + 64 * KiB]);
    expect(slice.offset).toBe(0);
  });

  it("an arena whose written chunks reach the budget takes no new slices", () => {
    const { asked, allocate } = host();
    const arenas = new RamArenas(allocate, 16 * MiB, 256 * KiB);
    const firstSlice = arenas.take(MiB)!;
    const first = new LinearRam(firstSlice);
    first.fill(0, 192 * KiB, 0x11); // three chunks written: under the budget
    expect(arenas.take(MiB)!.arena).toBe(firstSlice.arena);
    first.write8(200 * KiB, 1); // a fourth: 256 KiB written, the budget
    first.fill(0, 256 * KiB, 0); // zeroed, but its pages stay committed: still counts toward the budget
    expect(first.allocatedChunks).toBe(0);
    const next = arenas.take(MiB)!;
    expect(next.arena).not.toBe(firstSlice.arena);
    expect(next.offset).toBe(0);
    expect(asked).toEqual([16 * MiB, 16 * MiB]);
  });

  it("a host refusal halves the request down to the slice's size, and later arenas start at what worked", () => {
    const { asked, allocate } = host(300 * KiB);
    const arenas = new RamArenas(allocate, MiB);
    const a = arenas.take(100 * KiB)!;
    expect(asked).toEqual([MiB, 512 * KiB, 256 * KiB]);
    expect(a.arena.buffer.byteLength).toBe(256 * KiB);
    arenas.take(128 * KiB);
    arenas.take(64 * KiB); // 128 + 128 + 64 > 256 KiB: a new arena, asked for at the remembered size
    expect(asked).toEqual([MiB, 512 * KiB, 256 * KiB, 256 * KiB]);
  });

  it("returns null when the host refuses even the slice's own size, and passes other errors on", () => {
    const { allocate } = host(64 * KiB);
    const arenas = new RamArenas(allocate, MiB);
    expect(arenas.take(128 * KiB)).toBeNull();
    expect(arenas.take(4 * KiB)).not.toBeNull(); // smaller requests still work
    const broken = new RamArenas(() => {
      throw new TypeError("not a refusal");
    });
    expect(() => broken.take(4 * KiB)).toThrow(TypeError);
  });
});
