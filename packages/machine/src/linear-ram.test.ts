import type { PhysicalMemory } from "@ksim/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AddressMap } from "./address-map.js";
import { buildPhysicalLayout } from "./layout.js";
import { LinearRam } from "./linear-ram.js";
import { Machine } from "./machine.js";
import { PhysicalBus } from "./physical-bus.js";
import { RamArenas } from "./ram-arena.js";
import { SparseRam } from "./sparse-ram.js";

// Low RAM in one host buffer: PhysicalBus.linearView, direct views of it, its accounting, and the fallback to
// chunks when the host refuses the buffer.
const KiB = 1024;
const MiB = 2 ** 20;
const LOW_END = 4 * MiB;
const CHUNK = 64 * KiB;

function linearMachine() {
  const machine = new Machine({ ramSize: LOW_END });
  return { machine, memory: machine.memory, view: machine.memory.linearView! };
}

/** A bus over a `LOW_END` machine whose host refuses every buffer: low RAM must fall back to chunks. */
function refusedBus(): PhysicalBus {
  const refuse = () => {
    throw new RangeError("Array buffer allocation failed");
  };
  return new PhysicalBus(new AddressMap(buildPhysicalLayout(LOW_END)), false, new RamArenas(refuse, 4 * MiB));
}

// Reused between property runs (zeroed at the start of each): fresh 4 MiB buffers per run cost a GC every few.
const model = new Uint8Array(LOW_END);
const modelView = new DataView(model.buffer);
const all = new Uint8Array(LOW_END);

/** Addresses all over low RAM, with extra weight on chunk edges and its last bytes. */
const arbAddress = fc.oneof(
  fc.integer({ min: 0, max: LOW_END - 1 }),
  fc
    .tuple(fc.integer({ min: 1, max: LOW_END / CHUNK }), fc.integer({ min: -9, max: 8 }))
    .map(([c, d]) => Math.min(LOW_END - 1, Math.max(0, c * CHUNK + d))),
);

describe("PhysicalBus.linearView", () => {
  it("is one DataView over all of low RAM, and directView returns that very object for every page", () => {
    const { memory, view } = linearMachine();
    expect(view).toBeInstanceOf(DataView);
    expect(view.byteLength).toBe(LOW_END);
    expect(memory.linearView).toBe(view); // the same object on every read of the property
    const slot = { offset: -1 };
    fc.assert(
      fc.property(arbAddress, fc.boolean(), (address, forWrite) => {
        expect(memory.directView!(address, forWrite, slot) === view).toBe(true);
        expect(slot.offset).toBe(address - (address % 4096));
      }),
      { numRuns: 300 },
    );
  });

  it("never-written RAM reads zeros through the view and the bus, and reading counts no chunk", () => {
    const { machine, memory, view } = linearMachine();
    const slot = { offset: 0 };
    for (const address of [0, 4096, CHUNK - 1, 1_234_567, LOW_END - 8]) {
      expect(memory.directView!(address, false, slot) === view).toBe(true);
      expect(view.getBigUint64(address, true)).toBe(0n);
      expect(memory.read64(address)).toBe(0n);
    }
    const all = new Uint8Array(LOW_END);
    memory.read(0, all);
    expect(all.every((b) => b === 0)).toBe(true);
    expect(machine.stats.ramChunksAllocated).toBe(0);
  });

  it("writes through the bus and through the view agree both ways, at every width, against a flat model", () => {
    const arbOp = fc.record({
      address: arbAddress,
      width: fc.constantFrom(1, 2, 4, 8),
      value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      how: fc.constantFrom("bus-write", "view-write", "bus-read", "view-read"),
    });
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 60 }), (ops) => {
        const { memory, view } = linearMachine();
        model.fill(0);
        const slot = { offset: 0 };
        for (const o of ops) {
          const at = Math.min(o.address, LOW_END - o.width);
          const value = BigInt.asUintN(8 * o.width, o.value);
          if (o.how === "bus-write") writeWidth(memory, at, o.width, value);
          else if (o.how === "view-write") {
            // A writer asks with forWrite first (for each page it touches), as a TLB's write entry does.
            memory.directView!(at, true, slot);
            memory.directView!(at + o.width - 1, true, slot);
            setWidth(view, at, o.width, value);
          }
          if (o.how.endsWith("write")) setWidth(modelView, at, o.width, value);
          else {
            const expected = getWidth(modelView, at, o.width);
            expect(o.how === "bus-read" ? readWidth(memory, at, o.width) : getWidth(view, at, o.width)).toBe(expected);
          }
        }
        memory.read(0, all);
        expect(Buffer.compare(all, model)).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it("counts 64 KiB chunks written by the bus or handed out for writing; zeroing one whole zeroes it in place", () => {
    const { machine, memory, view } = linearMachine();
    const ram = machine.lowRam as LinearRam;
    expect(ram).toBeInstanceOf(LinearRam);
    memory.write8(5, 0);
    memory.write64(CHUNK * 3, 0n);
    memory.write(CHUNK * 4, new Uint8Array(3 * CHUNK));
    memory.fill(CHUNK * 8, 4 * CHUNK, 0);
    memory.copy(CHUNK * 20, CHUNK * 30, 2 * CHUNK);
    expect(machine.stats.ramChunksAllocated).toBe(0); // zeros into zeros count nothing
    memory.write32(CHUNK - 2, 0xffff_ffff); // straddles chunks 0 and 1
    memory.fill(CHUNK * 5 + 100, 2 * CHUNK, 7); // chunks 5, 6 and 7
    memory.directView!(CHUNK * 9 + 4096, true, { offset: 0 });
    memory.copy(CHUNK * 12, CHUNK * 5, 16); // chunk 12
    expect(machine.stats.ramChunksAllocated).toBe(7);
    expect(machine.stats.ramBytesAllocated).toBe(7 * CHUNK);
    expect([0, 1, 2, 5, 6, 7, 9, 12].map((c) => ram.isAllocated(c * CHUNK))).toEqual([
      true,
      true,
      false,
      true,
      true,
      true,
      true,
      true,
    ]);
    memory.fill(CHUNK * 5, CHUNK, 0); // chunk 5 zeroed whole: given back, zero in place
    memory.fill(CHUNK * 6, 100, 0); // part of chunk 6: still counted
    expect(machine.stats.ramChunksAllocated).toBe(6);
    expect(ram.isAllocated(CHUNK * 5)).toBe(false);
    expect(view.getUint8(CHUNK * 5 + 100)).toBe(0);
    expect(view.getUint8(CHUNK * 6 + 100)).toBe(7);
    memory.write8(CHUNK * 5 + 1, 9); // written again: counted again
    expect(machine.stats.ramChunksAllocated).toBe(7);
  });
});

describe("low RAM when the host refuses the buffer", () => {
  it("falls back to 64 KiB chunks: no linearView, read views only for written chunks", () => {
    const bus = refusedBus();
    expect(bus.lowRam).toBeInstanceOf(SparseRam);
    expect(bus.linearView).toBeUndefined();
    const slot = { offset: 0 };
    expect(bus.directView(0x12_3456, false, slot)).toBeNull();
    bus.write8(0x12_3456, 1);
    const chunkView = bus.directView(0x12_3456, false, slot);
    expect(chunkView?.getUint8(slot.offset + 0x456)).toBe(1);
  });

  it("gives the same results as one-buffer low RAM for random accesses, bulk operations included", () => {
    type Op =
      | { kind: "write"; address: number; width: number; value: bigint }
      | { kind: "read"; address: number; width: number }
      | { kind: "fill"; address: number; length: number; byte: number }
      | { kind: "copy"; to: number; from: number; length: number }
      | { kind: "bytes"; address: number; data: Uint8Array };
    const arbOp: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant("write" as const),
        address: arbAddress,
        width: fc.constantFrom(1, 2, 4, 8),
        value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      }),
      fc.record({ kind: fc.constant("read" as const), address: arbAddress, width: fc.constantFrom(1, 2, 4, 8) }),
      fc.record({
        kind: fc.constant("fill" as const),
        address: arbAddress,
        length: fc.oneof(fc.nat(300), fc.constant(CHUNK)),
        byte: fc.oneof(fc.constant(0), fc.nat(255)),
      }),
      fc.record({ kind: fc.constant("copy" as const), to: arbAddress, from: arbAddress, length: fc.nat(300) }),
      fc.record({ kind: fc.constant("bytes" as const), address: arbAddress, data: fc.uint8Array({ maxLength: 200 }) }),
    );
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 40 }), (ops) => {
        const memories: PhysicalMemory[] = [refusedBus(), linearMachine().memory];
        model.fill(0);
        for (const o of ops) {
          if (o.kind === "write") {
            const at = Math.min(o.address, LOW_END - o.width);
            const value = BigInt.asUintN(8 * o.width, o.value);
            for (const m of memories) writeWidth(m, at, o.width, value);
            setWidth(modelView, at, o.width, value);
          } else if (o.kind === "read") {
            const at = Math.min(o.address, LOW_END - o.width);
            for (const m of memories) expect(readWidth(m, at, o.width)).toBe(getWidth(modelView, at, o.width));
          } else if (o.kind === "fill") {
            const length = Math.min(o.length, LOW_END - o.address);
            for (const m of memories) m.fill(o.address, length, o.byte);
            model.fill(o.byte, o.address, o.address + length);
          } else if (o.kind === "copy") {
            const length = Math.min(o.length, LOW_END - o.to, LOW_END - o.from);
            for (const m of memories) m.copy(o.to, o.from, length);
            model.copyWithin(o.to, o.from, o.from + length);
          } else {
            const data = o.data.subarray(0, LOW_END - o.address);
            for (const m of memories) m.write(o.address, data);
            model.set(data, o.address);
          }
        }
        for (const m of memories) {
          m.read(0, all);
          expect(Buffer.compare(all, model)).toBe(0);
        }
      }),
      { numRuns: 40 },
    );
  });
});

function readWidth(memory: PhysicalMemory, address: number, width: number): bigint {
  if (width === 8) return memory.read64(address);
  return BigInt(width === 4 ? memory.read32(address) : width === 2 ? memory.read16(address) : memory.read8(address));
}

function writeWidth(memory: PhysicalMemory, address: number, width: number, value: bigint): void {
  if (width === 8) memory.write64(address, value);
  else if (width === 4) memory.write32(address, Number(value));
  else if (width === 2) memory.write16(address, Number(value));
  else memory.write8(address, Number(value));
}

function getWidth(view: DataView, at: number, width: number): bigint {
  if (width === 8) return view.getBigUint64(at, true);
  return BigInt(width === 4 ? view.getUint32(at, true) : width === 2 ? view.getUint16(at, true) : view.getUint8(at));
}

function setWidth(view: DataView, at: number, width: number, value: bigint): void {
  if (width === 8) view.setBigUint64(at, value, true);
  else if (width === 4) view.setUint32(at, Number(value), true);
  else if (width === 2) view.setUint16(at, Number(value), true);
  else view.setUint8(at, Number(value));
}
