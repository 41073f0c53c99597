import { type AccessSize, BusError, InvalidArgumentError, type MmioHandler } from "@ksim/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Machine } from "./machine.js";

// A small machine whose address space has every kind of boundary close together:
//   low RAM [0, 16 MiB) (64 KiB chunks), then device RAM "fb" [16 MiB, +8 KiB), register region "regs" [.., +256),
//   a hole, device RAM "rom" just below 4 GiB, high RAM [4 GiB, 4 GiB + 256 KiB), then a hole.
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const LOW_END = 16 * MiB;
const FB_BASE = LOW_END;
const FB_SIZE = 0x2000;
const REGS_BASE = FB_BASE + FB_SIZE;
const REGS_SIZE = 0x100;
const ROM_BASE = 4 * GiB - 0x1000;
const HIGH_END = 4 * GiB + 0x4_0000;

/** A register block that stores bytes like memory and logs each access it receives. */
class LoggingRegisters implements MmioHandler {
  readonly bytes: Uint8Array;
  readonly log: string[] = [];
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }
  read(offset: number, size: AccessSize): number {
    this.log.push(`r${size}@${offset}`);
    let value = 0;
    for (let i = 0; i < size; i++) value += this.bytes[offset + i]! * 2 ** (8 * i);
    return value;
  }
  write(offset: number, size: AccessSize, value: number): void {
    this.log.push(`w${size}@${offset}=${value}`);
    for (let i = 0; i < size; i++) this.bytes[offset + i] = Math.floor(value / 2 ** (8 * i)) & 0xff;
  }
}

function buildMachine(strict = false, lowRam: "linear" | "chunked" = "linear") {
  const machine = new Machine({ ramSize: LOW_END + 0x4_0000, lowMemoryTop: LOW_END, strict, lowRam });
  const fb = new Uint8Array(FB_SIZE);
  const rom = new Uint8Array(0x1000);
  const regs = new LoggingRegisters(REGS_SIZE);
  machine.addressMap.addRegion(FB_BASE, FB_SIZE, { kind: "ram", name: "fb", bytes: fb });
  machine.addressMap.addRegion(REGS_BASE, REGS_SIZE, { kind: "registers", name: "regs", handler: regs });
  machine.addressMap.addRegion(ROM_BASE, 0x1000, { kind: "ram", name: "rom", bytes: rom });
  return { machine, memory: machine.memory, fb, rom, regs };
}

/** Whether the reference model holds memory at `address` (everything else is a hole). */
function backed(address: number): boolean {
  return address < REGS_BASE + REGS_SIZE || (address >= ROM_BASE && address < HIGH_END);
}

/** The reference: a map of bytes (absent = 0) over the backed addresses; holes read 0xFF and drop writes. */
class Reference {
  readonly bytes = new Map<number, number>();
  get(address: number): number {
    return backed(address) ? (this.bytes.get(address) ?? 0) : 0xff;
  }
  set(address: number, byte: number): void {
    if (backed(address)) this.bytes.set(address, byte & 0xff);
  }
  readLE(address: number, width: number): bigint {
    let value = 0n;
    for (let i = width - 1; i >= 0; i--) value = (value << 8n) | BigInt(this.get(address + i));
    return value;
  }
  writeLE(address: number, width: number, value: bigint): void {
    for (let i = 0; i < width; i++) this.set(address + i, Number((value >> BigInt(8 * i)) & 0xffn));
  }
}

// Addresses near each boundary of interest.
const boundaries = [
  0,
  0x1_0000, // chunk edge in low RAM
  LOW_END - 0x1_0000,
  LOW_END, // RAM -> device RAM
  REGS_BASE, // device RAM -> registers
  REGS_BASE + REGS_SIZE, // registers -> hole
  ROM_BASE, // hole -> device RAM
  4 * GiB, // device RAM -> high RAM
  4 * GiB + 0x1_0000, // chunk edge in high RAM
  HIGH_END, // high RAM -> hole
];
const arbAddress = fc
  .tuple(fc.constantFrom(...boundaries), fc.integer({ min: -24, max: 24 }))
  .map(([base, delta]) => Math.max(0, base + delta));
const arbWidth = fc.constantFrom(1, 2, 4, 8);
const arbLength = fc.integer({ min: 0, max: 80 });

type Op =
  | { op: "write"; address: number; width: number; value: bigint }
  | { op: "read"; address: number; width: number }
  | { op: "fill"; address: number; length: number; byte: number }
  | { op: "copy"; destination: number; source: number; length: number }
  | { op: "writeBytes"; address: number; data: Uint8Array }
  | { op: "readBytes"; address: number; length: number };

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  fc
    .record({ address: arbAddress, width: arbWidth, value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) })
    .map((r) => ({ op: "write" as const, ...r, value: r.value & ((1n << BigInt(8 * r.width)) - 1n) })),
  fc.record({ address: arbAddress, width: arbWidth }).map((r) => ({ op: "read" as const, ...r })),
  fc
    .record({ address: arbAddress, length: arbLength, byte: fc.integer({ min: 0, max: 255 }) })
    .map((r) => ({ op: "fill" as const, ...r })),
  fc
    .record({ destination: arbAddress, source: arbAddress, length: arbLength })
    .map((r) => ({ op: "copy" as const, ...r })),
  // Overlapping copies: the source a few bytes either side of the destination.
  fc.record({ destination: arbAddress, delta: fc.integer({ min: -12, max: 12 }), length: arbLength }).map((r) => ({
    op: "copy" as const,
    destination: r.destination,
    source: Math.max(0, r.destination + r.delta),
    length: r.length,
  })),
  fc
    .record({ address: arbAddress, data: fc.uint8Array({ minLength: 0, maxLength: 80 }) })
    .map((r) => ({ op: "writeBytes" as const, ...r })),
  fc.record({ address: arbAddress, length: arbLength }).map((r) => ({ op: "readBytes" as const, ...r })),
);

function readWidth(memory: Machine["memory"], address: number, width: number): bigint {
  if (width === 8) return memory.read64(address);
  const value = width === 1 ? memory.read8(address) : width === 2 ? memory.read16(address) : memory.read32(address);
  return BigInt(value);
}

function writeWidth(memory: Machine["memory"], address: number, width: number, value: bigint): void {
  if (width === 8) memory.write64(address, value);
  else if (width === 4) memory.write32(address, Number(value));
  else if (width === 2) memory.write16(address, Number(value));
  else memory.write8(address, Number(value));
}

// Low RAM in one host buffer (the default) and in 64 KiB chunks (what a host that refuses the buffer gets).
describe.each(["linear", "chunked"] as const)("physical memory against a byte-map reference, low RAM %s", (lowRam) => {
  it("reads, writes, fills, copies and bulk transfers of every width agree with the reference across chunk, region and hole boundaries", () => {
    fc.assert(
      fc.property(fc.array(arbOp, { minLength: 1, maxLength: 40 }), (ops) => {
        const { memory } = buildMachine(false, lowRam);
        const ref = new Reference();
        for (const o of ops) {
          switch (o.op) {
            case "write":
              writeWidth(memory, o.address, o.width, o.value);
              ref.writeLE(o.address, o.width, o.value);
              break;
            case "read":
              expect(readWidth(memory, o.address, o.width)).toBe(ref.readLE(o.address, o.width));
              break;
            case "fill":
              memory.fill(o.address, o.length, o.byte);
              for (let i = 0; i < o.length; i++) ref.set(o.address + i, o.byte);
              break;
            case "copy": {
              memory.copy(o.destination, o.source, o.length);
              const tmp = Array.from({ length: o.length }, (_, i) => ref.get(o.source + i));
              for (const [i, b] of tmp.entries()) ref.set(o.destination + i, b);
              break;
            }
            case "writeBytes":
              memory.write(o.address, o.data);
              for (const [i, b] of o.data.entries()) ref.set(o.address + i, b);
              break;
            case "readBytes": {
              const into = new Uint8Array(o.length);
              memory.read(o.address, into);
              expect(Array.from(into)).toEqual(Array.from({ length: o.length }, (_, i) => ref.get(o.address + i)));
              break;
            }
          }
        }
        // Every byte the reference knows about reads back the same, one byte at a time.
        for (const [address, byte] of ref.bytes) expect(memory.read8(address)).toBe(byte);
      }),
      { numRuns: 300 },
    );
  });

  it("on a strict machine, any operation touching a hole throws BusError and changes nothing; others match the reference", () => {
    const spans = (o: Op): [number, number][] => {
      switch (o.op) {
        case "write":
        case "read":
          return [[o.address, o.width]];
        case "fill":
        case "readBytes":
          return [[o.address, o.length]];
        case "copy":
          return [
            [o.source, o.length],
            [o.destination, o.length],
          ];
        case "writeBytes":
          return [[o.address, o.data.length]];
      }
    };
    const touchesHole = (o: Op) =>
      spans(o).some(([start, length]) => Array.from({ length }, (_, i) => start + i).some((a) => !backed(a)));
    fc.assert(
      fc.property(fc.array(arbOp, { minLength: 1, maxLength: 30 }), (ops) => {
        const { memory, regs } = buildMachine(true, lowRam);
        const ref = new Reference();
        for (const o of ops) {
          if (touchesHole(o)) {
            const logLength = regs.log.length;
            const run = () => {
              if (o.op === "write") writeWidth(memory, o.address, o.width, o.value);
              else if (o.op === "read") readWidth(memory, o.address, o.width);
              else if (o.op === "fill") memory.fill(o.address, o.length, o.byte);
              else if (o.op === "copy") memory.copy(o.destination, o.source, o.length);
              else if (o.op === "writeBytes") memory.write(o.address, o.data);
              else memory.read(o.address, new Uint8Array(o.length));
            };
            expect(run).toThrow(BusError);
            expect(regs.log.length).toBe(logLength);
            continue;
          }
          if (o.op === "write") {
            writeWidth(memory, o.address, o.width, o.value);
            ref.writeLE(o.address, o.width, o.value);
          } else if (o.op === "read") {
            expect(readWidth(memory, o.address, o.width)).toBe(ref.readLE(o.address, o.width));
          } else if (o.op === "fill") {
            memory.fill(o.address, o.length, o.byte);
            for (let i = 0; i < o.length; i++) ref.set(o.address + i, o.byte);
          } else if (o.op === "copy") {
            memory.copy(o.destination, o.source, o.length);
            const tmp = Array.from({ length: o.length }, (_, i) => ref.get(o.source + i));
            for (const [i, b] of tmp.entries()) ref.set(o.destination + i, b);
          } else if (o.op === "writeBytes") {
            memory.write(o.address, o.data);
            for (const [i, b] of o.data.entries()) ref.set(o.address + i, b);
          }
        }
        for (const [address, byte] of ref.bytes) expect(memory.read8(address)).toBe(byte);
      }),
      { numRuns: 200 },
    );
  });

  it("RAM more than 4 GiB above 4 GiB (offsets past 2^32) agrees with a byte map at every width", () => {
    const machine = new Machine({ ramSize: 12 * GiB, lowMemoryTop: 16 * MiB, lowRam });
    const memory = machine.memory;
    const top = machine.layout.highRamEnd;
    const around = [8 * GiB, 8 * GiB + 0x1_0000, top - 0x1_0000, top - 8, 12 * GiB + 0x1234_5678];
    const arbAt = fc
      .tuple(fc.constantFrom(...around), fc.integer({ min: -20, max: 12 }))
      .map(([b, d]) => Math.min(top - 8, b + d));
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            at: arbAt,
            width: arbWidth,
            value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
            write: fc.boolean(),
          }),
          {
            maxLength: 40,
          },
        ),
        (ops) => {
          const model = new Map<number, number>();
          const get = (a: number) => model.get(a) ?? 0;
          for (const o of ops) {
            if (o.write) {
              const value = o.value & ((1n << BigInt(8 * o.width)) - 1n);
              writeWidth(memory, o.at, o.width, value);
              for (let i = 0; i < o.width; i++) model.set(o.at + i, Number((value >> BigInt(8 * i)) & 0xffn));
            } else {
              let expected = 0n;
              for (let i = o.width - 1; i >= 0; i--) expected = (expected << 8n) | BigInt(get(o.at + i));
              expect(readWidth(memory, o.at, o.width)).toBe(expected);
            }
          }
          for (const [a, b] of model) expect(memory.read8(a)).toBe(b);
          memory.fill(8 * GiB - 64, 128, 0); // clean up for the next run (the machine is shared)
          for (const a of around) memory.fill(Math.min(top - 64, a - 32), 64, 0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("overlapping copies in RAM behave like memmove in both directions and across chunk edges", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0x1_0000 - 300, max: 0x1_0000 + 100 }),
        fc.integer({ min: -200, max: 200 }),
        fc.integer({ min: 0, max: 400 }),
        (source, shift, length) => {
          const { memory } = buildMachine(false, lowRam);
          const destination = source + shift;
          const base = 0x1_0000 - 600;
          const data = Uint8Array.from({ length: 1400 }, (_, i) => (i * 7 + 3) & 0xff);
          memory.write(base, data);
          const model = data.slice();
          model.copyWithin(destination - base, source - base, source - base + length);
          memory.copy(destination, source, length);
          const out = new Uint8Array(1400);
          memory.read(base, out);
          expect(Array.from(out)).toEqual(Array.from(model));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("large copies that leave RAM", () => {
  it.each([
    ["destination above source", 100],
    ["destination below source", -100],
  ])("an overlapping copy of more than one staging block across RAM and device RAM is a memmove (%s)", (_, shift) => {
    const { memory } = buildMachine();
    const base = LOW_END - 0x1_2000;
    const total = 0x1_2000 + FB_SIZE;
    const data = Uint8Array.from({ length: total }, (_, i) => (i * 13 + (i >> 8)) & 0xff);
    memory.write(base, data);
    const source = base + 200;
    const length = total - 400;
    memory.copy(source + shift, source, length);
    const model = data.slice();
    model.copyWithin(200 + shift, 200, 200 + length);
    const out = new Uint8Array(total);
    memory.read(base, out);
    expect(Buffer.compare(out, model)).toBe(0);
  });
});

describe("register regions", () => {
  it("an access that fits in the region reaches the handler once with its width", () => {
    const { memory, regs } = buildMachine();
    memory.write32(REGS_BASE + 4, 0x11223344);
    memory.write16(REGS_BASE + 8, 0xbeef);
    memory.write8(REGS_BASE + 10, 0x7f);
    expect(memory.read32(REGS_BASE + 4)).toBe(0x11223344);
    expect(regs.log).toEqual(["w4@4=287454020", "w2@8=48879", "w1@10=127", "r4@4"]);
  });

  it("a 64-bit access without read64/write64 becomes two 32-bit accesses, low half first", () => {
    const { memory, regs } = buildMachine();
    memory.write64(REGS_BASE + 0x10, 0x0102030405060708n);
    expect(memory.read64(REGS_BASE + 0x10)).toBe(0x0102030405060708n);
    expect(regs.log).toEqual(["w4@16=84281096", "w4@20=16909060", "r4@16", "r4@20"]);
  });

  it("a 64-bit access goes to read64/write64 when the handler has them", () => {
    const machine = new Machine({ ramSize: 4 * MiB });
    const seen: string[] = [];
    machine.addressMap.addRegion(0xd000_0000, 0x1000, {
      kind: "registers",
      name: "wide",
      handler: {
        read: () => 0,
        write: () => {},
        read64: (offset) => {
          seen.push(`r8@${offset}`);
          return 0xffee_ddcc_bbaa_9988n;
        },
        write64: (offset, value) => {
          seen.push(`w8@${offset}=${value.toString(16)}`);
        },
      },
    });
    machine.memory.write64(0xd000_0008, -1n);
    expect(machine.memory.read64(0xd000_0010)).toBe(0xffee_ddcc_bbaa_9988n);
    expect(seen).toEqual(["w8@8=ffffffffffffffff", "r8@16"]);
  });

  it("an access straddling the region's edge is split into single bytes on each side", () => {
    const { memory, regs, fb } = buildMachine();
    memory.write32(REGS_BASE - 2, 0xaabbccdd);
    expect(Array.from(fb.subarray(FB_SIZE - 2))).toEqual([0xdd, 0xcc]);
    expect(regs.log).toEqual(["w1@0=187", "w1@1=170"]);
  });
});

describe("devices that access memory from their register handlers", () => {
  it("bulk and 64-bit accesses to a register region reach the right offsets while the handler does DMA", () => {
    const machine = new Machine({ ramSize: 16 * MiB });
    const fb = new Uint8Array(0x100);
    machine.addressMap.addRegion(0xc000_0000, fb.length, { kind: "ram", name: "fb", bytes: fb });
    const dma = machine.createBusMaster(() => true);
    const seen: string[] = [];
    machine.addressMap.addRegion(0xd000_0000, 0x10, {
      kind: "registers",
      name: "dma-on-access",
      handler: {
        // Every access starts a transfer that goes through the general path (device RAM and a hole).
        read: (offset, size) => {
          dma.copy(0xc000_0000, 0x10_0000, 16);
          dma.read32(0xe000_0000);
          seen.push(`r${size}@${offset}`);
          return offset;
        },
        write: (offset, size, value) => {
          dma.copy(0xc000_0010, 0x10_0000, 16);
          dma.write8(0xe000_0000, 1);
          seen.push(`w${size}@${offset}=${value}`);
        },
      },
    });
    machine.memory.fill(0xd000_0000, 4, 0x11);
    machine.memory.write64(0xd000_0008, 0x0000_0002_0000_0001n);
    const into = new Uint8Array(3);
    machine.memory.read(0xd000_0001, into);
    expect(machine.memory.read64(0xd000_0008)).toBe(0x0000_000c_0000_0008n);
    machine.memory.write(0xd000_0004, Uint8Array.of(7, 8));
    expect(Array.from(into)).toEqual([1, 2, 3]);
    expect(seen).toEqual([
      "w1@0=17",
      "w1@1=17",
      "w1@2=17",
      "w1@3=17",
      "w4@8=1",
      "w4@12=2",
      "r1@1",
      "r1@2",
      "r1@3",
      "r4@8",
      "r4@12",
      "w1@4=7",
      "w1@5=8",
    ]);
  });
});

describe("holes", () => {
  it("reads of unbacked addresses return all ones, writes are dropped, and both are counted", () => {
    const { machine, memory } = buildMachine();
    const hole = 0x2000_0000;
    expect(memory.read8(hole)).toBe(0xff);
    expect(memory.read16(hole)).toBe(0xffff);
    expect(memory.read32(hole)).toBe(0xffff_ffff);
    expect(memory.read64(hole)).toBe(0xffff_ffff_ffff_ffffn);
    memory.write32(hole, 0);
    expect(memory.read32(hole)).toBe(0xffff_ffff);
    expect(machine.stats.unbackedReads).toBe(5);
    expect(machine.stats.unbackedWrites).toBe(1);
    expect(machine.stats.lastUnbackedAddress).toBe(hole);
    expect(memory.backing(hole)).toEqual({ kind: "none" });
  });

  it("a strict machine throws BusError for an unbacked access and changes nothing, even when it straddles RAM", () => {
    const { machine, memory, regs } = buildMachine(true);
    expect(() => memory.read32(0x2000_0000)).toThrow(BusError);
    expect(() => memory.write8(0x2000_0000, 1)).toThrow(BusError);
    // A write that starts in the register region and runs into the hole touches neither.
    expect(() => memory.write32(REGS_BASE + REGS_SIZE - 2, 0x01020304)).toThrow(BusError);
    expect(() => memory.fill(REGS_BASE, REGS_SIZE + 1, 0x55)).toThrow(BusError);
    expect(() => memory.write(HIGH_END - 4, new Uint8Array(8).fill(9))).toThrow(BusError);
    expect(() => memory.copy(HIGH_END - 4, 0, 8)).toThrow(BusError);
    expect(() => memory.read(HIGH_END - 4, new Uint8Array(8))).toThrow(BusError);
    expect(regs.log).toEqual([]);
    expect(memory.read32(HIGH_END - 4)).toBe(0);
    expect(machine.stats.unbackedWrites).toBe(0);
  });
});

describe("backing", () => {
  it("names RAM, the device region (with its place) or nothing", () => {
    const { memory } = buildMachine();
    expect(memory.backing(0)).toEqual({ kind: "ram" });
    expect(memory.backing(4 * GiB + 5)).toEqual({ kind: "ram" });
    expect(memory.backing(FB_BASE + 1)).toEqual({ kind: "device-ram", region: "fb", base: FB_BASE, size: FB_SIZE });
    expect(memory.backing(REGS_BASE)).toEqual({ kind: "registers", region: "regs", base: REGS_BASE, size: REGS_SIZE });
    expect(memory.backing(HIGH_END)).toEqual({ kind: "none" });
  });
});

describe.each(["linear", "chunked"] as const)("RAM accounting through physical memory, low RAM %s", (lowRam) => {
  it("never-written RAM reads zeros and zero writes or fills of untouched chunks allocate nothing", () => {
    const machine = new Machine({ ramSize: 64 * MiB, lowRam });
    const memory = machine.memory;
    expect(memory.read64(0x123_4567)).toBe(0n);
    memory.write32(0x20_0000, 0);
    memory.write8(0x30_0000, 0);
    memory.fill(0x100_0000, 8 * MiB, 0);
    memory.write(0x200_0000, new Uint8Array(4096));
    memory.copy(0x300_0000, 0x280_0000, MiB);
    expect(machine.stats.ramChunksAllocated).toBe(0);
    memory.write8(0x20_0001, 1);
    expect(machine.stats.ramChunksAllocated).toBe(1);
    memory.fill(0x20_0000, machine.lowRam.chunkSize, 0);
    expect(machine.stats.ramChunksAllocated).toBe(0);
    expect(memory.read8(0x20_0001)).toBe(0);
  });

  it.each([1, 2, 4, 8])(
    "first writes of width %i into many fresh chunks (the pool growing under them) all read back, low and high",
    (width) => {
      const machine = new Machine({ ramSize: 4 * GiB + 64 * MiB, lowMemoryTop: 64 * MiB, lowRam });
      const memory = machine.memory;
      const addresses = Array.from({ length: 200 }, (_, i) => [
        i * 0x1_0000 + i * 8,
        4 * GiB + i * 0x1_0000 + 24,
      ]).flat();
      for (const [i, a] of addresses.entries()) {
        const v = (i % 250) + 1;
        if (width === 8) memory.write64(a, BigInt(v) << 40n);
        else if (width === 4) memory.write32(a, v << 20);
        else if (width === 2) memory.write16(a, v << 8);
        else memory.write8(a, v);
      }
      for (const [i, a] of addresses.entries()) {
        const v = (i % 250) + 1;
        if (width === 8) expect(memory.read64(a)).toBe(BigInt(v) << 40n);
        else if (width === 4) expect(memory.read32(a)).toBe(v << 20);
        else if (width === 2) expect(memory.read16(a)).toBe(v << 8);
        else expect(memory.read8(a)).toBe(v);
      }
      expect(machine.stats.ramChunksAllocated).toBe(400);
    },
  );

  it("negative values from bitwise operators are stored as their two's complement", () => {
    const machine = new Machine({ ramSize: 4 * MiB, lowRam });
    const memory = machine.memory;
    memory.write32(0x20_0000, 0x8000_0000 | 1);
    expect(memory.read32(0x20_0000)).toBe(0x8000_0001);
    memory.write8(0x20_0010, -1);
    expect(memory.read8(0x20_0010)).toBe(0xff);
    memory.write16(0x20_0020, -2);
    expect(memory.read16(0x20_0020)).toBe(0xfffe);
    memory.write64(0x20_0030, -1n);
    expect(memory.read64(0x20_0030)).toBe(0xffff_ffff_ffff_ffffn);
  });
});

describe.each(["linear", "chunked"] as const)(
  "bad arguments throw InvalidArgumentError and change nothing, low RAM %s",
  (lowRam) => {
    const badAddresses = [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY, 2 ** 52, 2 ** 53];
    const snapshot = (memory: Machine["memory"]) => {
      const out = new Uint8Array(0x100);
      memory.read(0x10_0000, out);
      const fb = new Uint8Array(16);
      memory.read(FB_BASE, fb);
      return [Array.from(out), Array.from(fb)];
    };

    it.each(badAddresses)("address %s is refused by every access", (address) => {
      const { machine, memory, regs } = buildMachine(false, lowRam);
      memory.write32(0x10_0000, 0x12345678);
      const before = snapshot(memory);
      const stats = machine.stats;
      const calls: (() => unknown)[] = [
        () => memory.read8(address),
        () => memory.read16(address),
        () => memory.read32(address),
        () => memory.read64(address),
        () => memory.write8(address, 1),
        () => memory.write16(address, 1),
        () => memory.write32(address, 1),
        () => memory.write64(address, 1n),
        () => memory.fill(address, 4, 1),
        () => memory.copy(address, 0x10_0000, 4),
        () => memory.copy(0x10_0000, address, 4),
        () => memory.read(address, new Uint8Array(4)),
        () => memory.write(address, new Uint8Array(4)),
        () => memory.backing(address),
      ];
      for (const call of calls) expect(call).toThrow(InvalidArgumentError);
      expect(snapshot(memory)).toEqual(before);
      expect(machine.stats).toEqual(stats);
      expect(regs.log.length).toBe(0);
    });

    it("accesses running past 2^52 are refused", () => {
      const { memory } = buildMachine(false, lowRam);
      const last = 2 ** 52 - 1;
      expect(memory.read8(last)).toBe(0xff);
      expect(() => memory.read16(last)).toThrow(/runs past 2\^52/);
      expect(() => memory.read64(2 ** 52 - 4)).toThrow(InvalidArgumentError);
      expect(() => memory.write32(2 ** 52 - 2, 0)).toThrow(InvalidArgumentError);
      expect(() => memory.fill(2 ** 52 - 2, 3, 0)).toThrow(InvalidArgumentError);
      expect(() => memory.copy(0, 2 ** 52 - 2, 3)).toThrow(InvalidArgumentError);
    });

    it("values out of range for the width, fractional or NaN are refused without writing", () => {
      const { memory } = buildMachine(false, lowRam);
      const before = snapshot(memory);
      const at = 0x10_0000;
      for (const [call, name] of [
        [() => memory.write8(at, 256), "write8 256"],
        [() => memory.write8(at, -129), "write8 -129"],
        [() => memory.write16(at, 0x1_0000), "write16 0x10000"],
        [() => memory.write32(at, 2 ** 32), "write32 2^32"],
        [() => memory.write32(at, -(2 ** 31) - 1), "write32 -2^31-1"],
        [() => memory.write32(at, 1.5), "write32 1.5"],
        [() => memory.write8(at, Number.NaN), "write8 NaN"],
        [() => memory.write64(at, 2n ** 64n), "write64 2^64"],
        [() => memory.write64(at, 1 as unknown as bigint), "write64 number"],
        [() => memory.fill(at, 4, 256), "fill 256"],
        [() => memory.fill(at, -1, 0), "fill length -1"],
        [() => memory.fill(at, 1.5, 0), "fill length 1.5"],
        [() => memory.copy(at, 0, Number.NaN), "copy NaN length"],
        [() => memory.read(at, [1, 2] as unknown as Uint8Array), "read into array"],
      ] as const) {
        expect(call, name).toThrow(InvalidArgumentError);
      }
      expect(snapshot(memory)).toEqual(before);
    });
  },
);
