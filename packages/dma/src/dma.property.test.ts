import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { makeStack, PAGE, type Stack } from "../test/stack.js";
import { DmaError } from "./errors.js";
import { LoggingRegisters } from "./testing/devices.js";

/** A device window in the PCI hole: MMIO requests land anywhere in it, at any offset. */
const DEVICE_BASE = 0xd000_0000;
const DEVICE_SIZE = 64 * PAGE;

interface LiveModel {
  readonly kind: "dma" | "mmio";
  readonly virt: number;
  readonly phys: number;
  readonly size: number;
  readonly pages: number;
  readonly tag: number;
  readonly align?: number;
  readonly boundary?: number;
}

type Op =
  | { op: "alloc"; size: number; align?: number; boundary?: number }
  | { op: "free"; pick: number; roundedSize: boolean }
  | { op: "map"; offset: number; size: number; wc: boolean }
  | { op: "unmap"; pick: number }
  | { op: "bogus"; pages: number; inMmio: boolean };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record(
      {
        op: fc.constant("alloc" as const),
        size: fc.integer({ min: 1, max: 9 * PAGE }),
        align: fc.constantFrom(PAGE, 0x2000, 0x1_0000),
        boundary: fc.constantFrom(0x1_0000, 0x10_0000),
      },
      { requiredKeys: ["op", "size"] },
    ),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("free" as const), pick: fc.nat(), roundedSize: fc.boolean() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("map" as const),
      offset: fc.integer({ min: 0, max: DEVICE_SIZE - 3 * PAGE }),
      size: fc.integer({ min: 1, max: 3 * PAGE }),
      wc: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("unmap" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("bogus" as const),
      pages: fc.integer({ min: 0, max: 80 }),
      inMmio: fc.boolean(),
    }),
  },
);

function overlaps(a: number, aSize: number, b: number, bSize: number): boolean {
  return a < b + bSize && b < a + aSize;
}

/** Every invariant of the DMA layer, checked against the model after each step. */
function checkAgainstModel(s: Stack, live: LiveModel[], baselineUsed: number): void {
  const listed = s.dma.mappings().map((m) => ({ kind: m.kind, virt: m.virt, phys: m.phys, size: m.size }));
  const expected = [...live]
    .sort((a, b) => a.virt - b.virt)
    .map((m) => ({ kind: m.kind, virt: m.virt, phys: m.phys, size: m.size }));
  expect(listed).toEqual(expected);

  let dmaBytes = 0;
  let mmioBytes = 0;
  for (const m of live) {
    const base = m.virt - (m.virt % PAGE);
    const bytes = m.pages * PAGE;
    if (m.kind === "dma") dmaBytes += bytes;
    else mmioBytes += bytes;
    // Every page maps where it should; the guard page after it does not.
    for (let i = 0; i < m.pages; i++) {
      expect(s.physicalAddress(base + i * PAGE)).toBe(m.phys - (m.phys % PAGE) + i * PAGE);
    }
    expect(s.page(base + bytes)).toBeNull();
    if (m.kind === "dma") {
      expect(s.arch.memory.read32(m.virt)).toBe(m.tag);
      if (m.align !== undefined) expect(m.phys % m.align).toBe(0);
      if (m.boundary !== undefined) {
        expect(Math.floor(m.phys / m.boundary)).toBe(Math.floor((m.phys + m.size - 1) / m.boundary));
      }
    }
  }
  // No two live ranges overlap, virtually (guard pages included) or, for DMA buffers, physically.
  for (let i = 0; i < live.length; i++) {
    for (let j = i + 1; j < live.length; j++) {
      const a = live[i]!;
      const b = live[j]!;
      const aBase = a.virt - (a.virt % PAGE);
      const bBase = b.virt - (b.virt % PAGE);
      expect(overlaps(aBase, (a.pages + 1) * PAGE, bBase, (b.pages + 1) * PAGE)).toBe(false);
      if (a.kind === "dma" && b.kind === "dma") {
        expect(overlaps(a.phys, a.pages * PAGE, b.phys, b.pages * PAGE)).toBe(false);
      }
    }
  }
  expect(s.dma.mem_getDMAUsage()).toBe(dmaBytes);
  expect(s.dma.mem_getMMIOUsage()).toBe(mmioBytes);
  expect(s.dmaFrames.held.size).toBe(dmaBytes / PAGE);
  // Every frame in use is a DMA buffer's, a page table, or was in use before the run.
  expect(s.buddy.stats().usedFrames).toBe(baselineUsed + s.dmaFrames.held.size + s.archFrames.held.size);
}

describe("random allocate/free/map/unmap sequences", () => {
  it("never overlap, keep exact usage figures and frame counts, and give everything back", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const s = makeStack();
        s.machine.addressMap.addRegion(DEVICE_BASE, DEVICE_SIZE, {
          kind: "registers",
          name: "device",
          handler: new LoggingRegisters(DEVICE_SIZE),
        });
        const baselineUsed = s.buddy.stats().usedFrames - s.archFrames.held.size;
        const live: LiveModel[] = [];
        let nextTag = 0x1000_0001;
        const pick = (kind: "dma" | "mmio", n: number) => {
          const candidates = live.filter((m) => m.kind === kind);
          return candidates.length === 0 ? undefined : candidates[n % candidates.length];
        };
        for (const o of ops) {
          if (o.op === "alloc") {
            const r = s.dma.allocateDMA({ size: o.size, align: o.align, boundary: o.boundary });
            if (!r.ok) throw new Error(`32 MiB should not run out: ${r.message}`);
            const tag = nextTag++;
            s.arch.memory.write32(r.virt, tag);
            const pages = Math.ceil(o.size / PAGE);
            expect(r.size).toBe(pages * PAGE);
            live.push({ kind: "dma", virt: r.virt, phys: r.phys, size: o.size, pages, tag, ...alignOf(o) });
          } else if (o.op === "free") {
            const m = pick("dma", o.pick);
            if (m === undefined) continue;
            s.dma.mem_freeDMA(m.virt, o.roundedSize ? m.pages * PAGE : m.size);
            live.splice(live.indexOf(m), 1);
          } else if (o.op === "map") {
            const phys = DEVICE_BASE + o.offset;
            const virt = o.wc ? s.dma.mem_mapMMIOWriteCombine(phys, o.size) : s.dma.mem_mapMMIO(phys, o.size);
            expect(virt).not.toBe(0);
            expect(virt % PAGE).toBe(phys % PAGE);
            const pages = Math.ceil(((phys % PAGE) + o.size) / PAGE);
            live.push({ kind: "mmio", virt, phys, size: o.size, pages, tag: 0 });
          } else if (o.op === "unmap") {
            const m = pick("mmio", o.pick);
            if (m === undefined) continue;
            s.dma.mem_unmapMMIO(m.virt, m.size);
            live.splice(live.indexOf(m), 1);
          } else {
            // A release naming a page-aligned address that is not any live buffer's start is refused, changing nothing.
            const window = o.inMmio ? s.dma.mmioWindow : s.dma.dmaWindow;
            const address = window.base + o.pages * PAGE;
            if (live.some((m) => m.virt === address)) continue;
            const before = s.dma.mappings();
            const call = () => (o.inMmio ? s.dma.mem_unmapMMIO(address, PAGE) : s.dma.mem_freeDMA(address, PAGE));
            expect(call).toThrow(DmaError);
            expect(s.dma.mappings()).toEqual(before);
          }
          checkAgainstModel(s, live, baselineUsed);
        }
        for (const m of [...live]) {
          if (m.kind === "dma") s.dma.mem_freeDMA(m.virt, m.size);
          else s.dma.mem_unmapMMIO(m.virt, m.size);
        }
        live.length = 0;
        checkAgainstModel(s, live, baselineUsed);
        const usage = s.dma.usage();
        expect(usage.dma.reservedBytes).toBe(0);
        expect(usage.mmio.reservedBytes).toBe(0);
        expect(usage.dma.largestFree).toBe(s.dma.dmaWindow.size);
        expect(s.dmaFrames.held.size).toBe(0);
      }),
      { numRuns: 60 },
    );
  });
});

function alignOf(o: { align?: number; boundary?: number }): { align?: number; boundary?: number } {
  const out: { align?: number; boundary?: number } = {};
  if (o.align !== undefined) out.align = o.align;
  if (o.boundary !== undefined) out.boundary = o.boundary;
  return out;
}
