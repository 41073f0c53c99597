import { InvalidArgumentError } from "@ksim/core";
import { describe, expect, it } from "vitest";
import { AddressMap } from "./address-map.js";
import { buildPhysicalLayout } from "./layout.js";
import { LinearRam } from "./linear-ram.js";
import { PhysicalBus } from "./physical-bus.js";
import { type RamArena, RamArenas } from "./ram-arena.js";

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

  it.each([
    ["size 0", (a: RamArenas) => a.take(0)],
    ["size -1", (a: RamArenas) => a.take(-1)],
    ["size 1.5", (a: RamArenas) => a.take(1.5)],
    ["size NaN", (a: RamArenas) => a.take(Number.NaN)],
    ["size above 4 GiB", (a: RamArenas) => a.take(2 ** 32 + 1)],
  ])("take: %s throws InvalidArgumentError and hands out nothing", (_, call) => {
    const { asked, allocate } = host();
    const arenas = new RamArenas(allocate, MiB);
    expect(() => call(arenas)).toThrow(InvalidArgumentError);
    expect(asked).toEqual([]);
    expect(arenas.take(64 * KiB)!.offset).toBe(0); // nothing was taken before
  });

  it.each([
    ["allocate not a function", () => new RamArenas(42 as unknown as () => ArrayBuffer)],
    ["arena size below 64 KiB", () => new RamArenas(undefined, 4096)],
    ["arena size NaN", () => new RamArenas(undefined, Number.NaN)],
    ["write budget fractional", () => new RamArenas(undefined, MiB, 65536.5)],
  ])("constructor: %s throws InvalidArgumentError", (_, make) => {
    expect(make).toThrow(InvalidArgumentError);
  });
});

describe("LinearRam over a slice", () => {
  const arena: RamArena = { buffer: new ArrayBuffer(MiB), used: 0, touchedChunks: 0 };
  it.each([
    ["a misaligned offset", { arena, offset: 4096, size: 64 * KiB }],
    ["an empty slice", { arena, offset: 0, size: 0 }],
    ["a slice past the buffer", { arena, offset: 960 * KiB, size: 128 * KiB }],
    ["a fractional size", { arena, offset: 0, size: 10.5 }],
  ])("refuses %s with InvalidArgumentError", (_, slice) => {
    expect(() => new LinearRam(slice)).toThrow(InvalidArgumentError);
  });

  it("works at slice offsets past 4 GiB of a large arena (three 3 GiB low RAMs in one 16 GiB reservation)", () => {
    const arenas = new RamArenas(undefined, 2 ** 34);
    const buses = [0, 1, 2].map(() => new PhysicalBus(new AddressMap(buildPhysicalLayout(3 * 2 ** 30)), false, arenas));
    for (const [i, bus] of buses.entries()) {
      bus.write32(0, 0x1111_1111 * (i + 1));
      bus.write64(3 * 2 ** 30 - 8, BigInt(i + 1) << 56n);
    }
    for (const [i, bus] of buses.entries()) {
      expect(bus.read32(0)).toBe(0x1111_1111 * (i + 1));
      expect(bus.read64(3 * 2 ** 30 - 8)).toBe(BigInt(i + 1) << 56n);
      expect(bus.linearView!.getUint8(3 * 2 ** 30 - 1)).toBe(i + 1);
    }
    // Where the host granted 16 GiB, the third slice starts at 6 GiB of it.
    const third = buses[2]!.linearView!;
    if (third.buffer.byteLength >= 2 ** 34) expect(third.byteOffset).toBe(6 * 2 ** 30);
  });
});
