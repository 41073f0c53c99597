import {
  Access,
  type FrameAllocation,
  type FrameRequest,
  InvalidArgumentError,
  KERNEL_OWNER,
  KernelPanic,
  MemoryType,
  type MemoryTypeValue,
  type OwnerContext,
  PageFault,
} from "@ksim/core";
import { BusMasterDisabledError } from "@ksim/machine";
import { describe, expect, it } from "vitest";
import { drainFrames, MiB, makeStack, PAGE, type Stack } from "../test/stack.js";
import { Dma } from "./dma.js";
import { DmaError } from "./errors.js";
import {
  COPY_ENGINE_ID,
  CopyEngine,
  CopyEngineCommand,
  CopyEngineRegister,
  LoggingRegisters,
} from "./testing/devices.js";
import { TrackingFrames } from "./testing/tracking-frames.js";

/** Device windows in the PCI hole (RAM ends at 3 GiB below 4 GiB). */
const FRAMEBUFFER = 0xd000_0000;
const ENGINE_REGS = 0xfea0_0000;
const LOG_REGS = 0xfeb0_0000;

/** Everything observable about the DMA layer and the frames, to show that a refused call changed nothing. */
function observe(s: Stack) {
  return {
    mappings: s.dma.mappings(),
    usage: s.dma.usage(),
    dmaUsage: s.dma.mem_getDMAUsage(),
    mmioUsage: s.dma.mem_getMMIOUsage(),
    freeFrames: s.buddy.stats().freeFrames,
    dmaHeld: [...s.dmaFrames.held].sort((a, b) => a - b),
    archHeld: s.archFrames.held.size,
  };
}

function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

describe("mem_allocateDMA", () => {
  it("returns a zeroed, physically contiguous, kernel-only uncacheable buffer in the DMA window", () => {
    const s = makeStack();
    // Dirty some frames first, so zeroing is observable.
    const dirty = s.dmaFrames.allocate({ count: 64 });
    if (!dirty.ok) throw new Error(dirty.message);
    s.machine.memory.fill(dirty.address, 64 * PAGE, 0xa5);
    s.dmaFrames.free(dirty.address, 64);

    const virt = s.dma.mem_allocateDMA(5 * PAGE + 100);
    expect(virt).not.toBe(0);
    expect(virt % PAGE).toBe(0);
    expect(virt).toBeGreaterThanOrEqual(s.arch.layout.dma.base);
    expect(virt + 6 * PAGE).toBeLessThanOrEqual(s.arch.layout.dma.base + s.arch.layout.dma.size);
    const phys = s.physicalAddress(virt);
    expect(phys).not.toBe(0);
    for (let i = 0; i < 6; i++) {
      const page = s.page(virt + i * PAGE);
      expect(page).toEqual({
        phys: phys + i * PAGE,
        writable: true,
        user: false,
        executable: false,
        memoryType: MemoryType.UC,
      });
    }
    // The MMU refuses a user-mode access and an instruction fetch.
    expect(s.arch.mmu.translate(virt, Access.Read, true)).toBe(-1);
    expect(s.arch.mmu.lastFault.errorCode & 0x4).toBe(0x4);
    expect(s.arch.mmu.translate(virt, Access.Execute, false)).toBe(-1);
    const contents = new Uint8Array(6 * PAGE);
    s.arch.memory.read(virt, contents);
    expect(contents.every((b) => b === 0)).toBe(true);
    const physical = new Uint8Array(6 * PAGE);
    s.machine.memory.read(phys, physical);
    expect(physical.every((b) => b === 0)).toBe(true);
    expect(s.dma.mem_getDMAUsage()).toBe(6 * PAGE);
    expect(s.dmaFrames.held.size).toBe(6);
  });

  it("mem_freeDMA unmaps the buffer, returns every frame and the usage, and a later access faults", () => {
    const s = makeStack();
    const before = observe(s);
    const virt = s.dma.mem_allocateDMA(3 * PAGE);
    s.arch.memory.write32(virt + 2 * PAGE, 0x1234_5678); // brings the translation into any TLB
    expect(s.arch.memory.read32(virt + 2 * PAGE)).toBe(0x1234_5678);
    const phys = s.physicalAddress(virt);
    s.dma.mem_freeDMA(virt, 3 * PAGE);
    expect(s.dmaFrames.held.size).toBe(0);
    for (let i = 0; i < 3; i++) expect(s.buddy.refCount(phys + i * PAGE)).toBe(0);
    expect(s.dma.mem_getDMAUsage()).toBe(0);
    expect(s.dma.mappings()).toEqual([]);
    expect(s.page(virt)).toBeNull();
    expect(() => s.arch.memory.read32(virt + 2 * PAGE)).toThrow(PageFault);
    // Page tables the architecture built stay for reuse; apart from them, the frame count is as before.
    expect(s.buddy.stats().freeFrames).toBe(before.freeFrames - (s.archFrames.held.size - before.archHeld));
  });

  it("a buffer reusing a freed buffer's virtual address never reaches the old frames through a stale TLB entry", () => {
    const s = makeStack();
    const a = s.dma.mem_allocateDMA(PAGE);
    const oldFrame = s.physicalAddress(a);
    s.arch.memory.write32(a, 0x0bad_cafe);
    expect(s.arch.memory.read32(a)).toBe(0x0bad_cafe); // the TLB now holds a -> oldFrame
    s.dma.mem_freeDMA(a, PAGE);
    // Keep the old frame busy so the next buffer gets another one at the same virtual address.
    const held: number[] = [];
    while (!held.includes(oldFrame)) held.push(s.archFrames.allocFrame());
    s.machine.memory.write32(oldFrame, 0x0bad_cafe);
    const b = s.dma.mem_allocateDMA(PAGE);
    expect(b).toBe(a);
    expect(s.physicalAddress(b)).not.toBe(oldFrame);
    expect(s.arch.memory.read32(b)).toBe(0);
    s.arch.memory.write32(b, 0x600d_f00d);
    expect(s.machine.memory.read32(s.physicalAddress(b))).toBe(0x600d_f00d);
    expect(s.machine.memory.read32(oldFrame)).toBe(0x0bad_cafe);
  });

  it("accepts the size asked for or that size rounded up to pages when freeing", () => {
    const s = makeStack();
    const a = s.dma.mem_allocateDMA(100);
    const b = s.dma.mem_allocateDMA(100);
    s.dma.mem_freeDMA(a, 100);
    s.dma.mem_freeDMA(b, PAGE);
    expect(s.dma.mappings()).toEqual([]);
  });

  it("mem_freeDMA(0, size) does nothing, like free(NULL)", () => {
    const s = makeStack();
    s.dma.mem_allocateDMA(PAGE);
    const before = observe(s);
    s.dma.mem_freeDMA(0, PAGE);
    s.dma.mem_freeDMA(0, 0);
    expect(observe(s)).toEqual(before);
  });

  it("leaves an unmapped guard page after each buffer, so running off the end faults", () => {
    const s = makeStack();
    const a = s.dma.mem_allocateDMA(PAGE);
    const b = s.dma.mem_allocateDMA(PAGE);
    expect(b - a).toBe(2 * PAGE);
    expect(() => s.arch.memory.write8(a + PAGE, 1)).toThrow(PageFault);
    const packed = makeStack({ guardPages: false });
    const c = packed.dma.mem_allocateDMA(PAGE);
    expect(packed.dma.mem_allocateDMA(PAGE) - c).toBe(PAGE);
  });

  it("zeroes a reused buffer: the next owner never sees the previous one's data", () => {
    const s = makeStack();
    const a = s.dma.mem_allocateDMA(2 * PAGE);
    s.arch.memory.fill(a, 2 * PAGE, 0xee);
    s.dma.mem_freeDMA(a, 2 * PAGE);
    const b = s.dma.mem_allocateDMA(2 * PAGE);
    const seen = new Uint8Array(2 * PAGE);
    s.arch.memory.read(b, seen);
    expect(seen.every((x) => x === 0)).toBe(true);
  });
});

describe("allocateDMA constraints", () => {
  it("aligns the bus address (and the virtual one) as asked", () => {
    const s = makeStack();
    s.dma.mem_allocateDMA(PAGE); // disturb the allocator a little
    for (const align of [PAGE, 0x4000, 0x1_0000, 0x20_0000]) {
      const r = s.dma.allocateDMA({ size: PAGE, align });
      if (!r.ok) throw new Error(r.message);
      expect(r.phys % align).toBe(0);
      expect(r.virt % align).toBe(0);
      expect(s.physicalAddress(r.virt)).toBe(r.phys);
    }
    const small = s.dma.allocateDMA({ size: 64, align: 64 });
    expect(small.ok && small.phys % 64 === 0 && small.size === PAGE).toBe(true);
  });

  it("keeps a buffer from crossing a 64 KiB boundary even when the allocator's next run would", () => {
    // A frame allocator whose multi-frame runs start 4 KiB below a 64 KiB boundary (as a first-fit allocator's
    // can after some churn): every unconstrained run of 2+ frames crosses one.
    class StraddlingFrames extends TrackingFrames {
      override allocate(request: FrameRequest = {}): FrameAllocation {
        const count = request.count ?? 1;
        if ((request.align ?? PAGE) > PAGE || count < 2) return super.allocate(request);
        const r = super.allocate({ count: count + 15, align: 0x1_0000, limit: request.limit });
        if (!r.ok) return r;
        super.free(r.address, 15);
        return { ok: true, address: r.address + 15 * PAGE, count };
      }
    }
    const s = makeStack();
    const straddling = new StraddlingFrames(s.buddy);
    const dma = new Dma({ arch: s.arch, frames: straddling });
    const plain = dma.allocateDMA({ size: 3 * PAGE });
    if (!plain.ok) throw new Error(plain.message);
    expect(plain.phys % 0x1_0000).toBe(0xf000); // this allocator does straddle
    for (let i = 0; i < 10; i++) {
      const r = dma.allocateDMA({ size: 3 * PAGE, boundary: 0x1_0000 });
      if (!r.ok) throw new Error(r.message);
      expect(Math.floor(r.phys / 0x1_0000)).toBe(Math.floor((r.phys + 3 * PAGE - 1) / 0x1_0000));
    }
    // The run it first got and gave back is not held: only the buffers' frames are.
    expect(straddling.held.size).toBe(11 * 3);
  });

  it("places a buffer below a physical limit for a 32-bit device, or fails with no-fit and changes nothing", () => {
    const s = makeStack({ ramSize: 4 * 1024 * MiB + 64 * MiB });
    const low = s.dma.allocateDMA({ size: 8 * PAGE, limit: 2 ** 32 });
    if (!low.ok) throw new Error(low.message);
    expect(low.phys + 8 * PAGE).toBeLessThanOrEqual(2 ** 32);
    const before = observe(s);
    const impossible = s.dma.allocateDMA({ size: 8 * PAGE, limit: 0x10_0000 });
    expect(impossible.ok).toBe(false);
    if (!impossible.ok) expect(["no-fit", "out-of-memory"]).toContain(impossible.reason);
    expect(observe(s)).toEqual(before);
  });
});

describe("bad input changes nothing", () => {
  /** A stack holding one DMA buffer of 2 pages and one MMIO mapping of a register page with an offset. */
  function populated() {
    const s = makeStack();
    s.machine.addressMap.addRegion(LOG_REGS, PAGE, {
      kind: "registers",
      name: "log",
      handler: new LoggingRegisters(PAGE),
    });
    const buffer = s.dma.mem_allocateDMA(2 * PAGE);
    const regs = s.dma.mem_mapMMIO(LOG_REGS + 0x10, 0x20);
    const freed = s.dma.mem_allocateDMA(PAGE);
    s.dma.mem_freeDMA(freed, PAGE);
    const unmapped = s.dma.mem_mapMMIO(LOG_REGS, 8);
    s.dma.mem_unmapMMIO(unmapped, 8);
    return { s, buffer, regs, freed, unmapped };
  }

  type Case = [string, (c: ReturnType<typeof populated>) => unknown, new (...args: never[]) => Error, RegExp];
  const cases: Case[] = [
    ["mem_allocateDMA(0)", ({ s }) => s.dma.mem_allocateDMA(0), InvalidArgumentError, /size = 0/],
    ["mem_allocateDMA(NaN)", ({ s }) => s.dma.mem_allocateDMA(Number.NaN), InvalidArgumentError, /not a number/],
    ["mem_allocateDMA(-4096)", ({ s }) => s.dma.mem_allocateDMA(-PAGE), InvalidArgumentError, /negative/],
    ["mem_allocateDMA(1.5)", ({ s }) => s.dma.mem_allocateDMA(1.5), InvalidArgumentError, /not an integer/],
    ["mem_allocateDMA(Infinity)", ({ s }) => s.dma.mem_allocateDMA(Infinity), InvalidArgumentError, /not an integer/],
    ["allocateDMA align 3", ({ s }) => s.dma.allocateDMA({ size: 1, align: 3 }), InvalidArgumentError, /align/],
    [
      "allocateDMA boundary 3",
      ({ s }) => s.dma.allocateDMA({ size: 1, boundary: 3 }),
      InvalidArgumentError,
      /boundary/,
    ],
    [
      "allocateDMA boundary < size",
      ({ s }) => s.dma.allocateDMA({ size: 0x2_0000, boundary: 0x1_0000 }),
      InvalidArgumentError,
      /smaller than the size/,
    ],
    [
      "allocateDMA limit NaN",
      ({ s }) => s.dma.allocateDMA({ size: 1, limit: Number.NaN }),
      InvalidArgumentError,
      /limit/,
    ],
    [
      "allocateDMA limit below the size",
      ({ s }) => s.dma.allocateDMA({ size: 2 * PAGE, limit: PAGE }),
      InvalidArgumentError,
      /limit/,
    ],
    [
      "allocateDMA limit beyond the physical address width",
      ({ s }) => s.dma.allocateDMA({ size: PAGE, limit: 2 ** 60 }),
      InvalidArgumentError,
      /limit/,
    ],
    ["mem_freeDMA(NaN)", ({ s }) => s.dma.mem_freeDMA(Number.NaN, PAGE), InvalidArgumentError, /base = NaN/],
    ["mem_freeDMA(-1)", ({ s }) => s.dma.mem_freeDMA(-1, PAGE), InvalidArgumentError, /negative/],
    ["mem_freeDMA(x.5)", ({ s, buffer }) => s.dma.mem_freeDMA(buffer + 0.5, PAGE), InvalidArgumentError, /integer/],
    ["mem_freeDMA size NaN", ({ s, buffer }) => s.dma.mem_freeDMA(buffer, Number.NaN), InvalidArgumentError, /size/],
    ["mem_freeDMA size 0", ({ s, buffer }) => s.dma.mem_freeDMA(buffer, 0), InvalidArgumentError, /size = 0/],
    [
      "mem_freeDMA of an interior pointer",
      ({ s, buffer }) => s.dma.mem_freeDMA(buffer + PAGE, PAGE),
      DmaError,
      /points inside the DMA buffer at 0xFFFFF8/,
    ],
    [
      "mem_freeDMA of an unaligned interior pointer",
      ({ s, buffer }) => s.dma.mem_freeDMA(buffer + 8, 2 * PAGE),
      DmaError,
      /points inside/,
    ],
    [
      "mem_freeDMA with a size of other pages",
      ({ s, buffer }) => s.dma.mem_freeDMA(buffer, PAGE),
      DmaError,
      /is 8192 bytes \(2 page\(s\)\); 4096 bytes cover 1/,
    ],
    ["a double mem_freeDMA", ({ s, freed }) => s.dma.mem_freeDMA(freed, PAGE), DmaError, /released already/],
    [
      "mem_freeDMA of an address never allocated",
      ({ s }) => s.dma.mem_freeDMA(s.dma.dmaWindow.base + 100 * PAGE, PAGE),
      DmaError,
      /no DMA buffer was made/,
    ],
    [
      "mem_freeDMA of an MMIO address",
      ({ s, regs }) => s.dma.mem_freeDMA(regs, 0x20),
      DmaError,
      /not in the dma window/,
    ],
    ["mem_mapMMIO(NaN)", ({ s }) => s.dma.mem_mapMMIO(Number.NaN, PAGE), InvalidArgumentError, /phys = NaN/],
    ["mem_mapMMIO(-4096)", ({ s }) => s.dma.mem_mapMMIO(-PAGE, PAGE), InvalidArgumentError, /negative/],
    ["mem_mapMMIO(x.5)", ({ s }) => s.dma.mem_mapMMIO(LOG_REGS + 0.5, 4), InvalidArgumentError, /integer/],
    ["mem_mapMMIO size 0", ({ s }) => s.dma.mem_mapMMIO(LOG_REGS, 0), InvalidArgumentError, /size = 0/],
    ["mem_mapMMIO size -1", ({ s }) => s.dma.mem_mapMMIO(LOG_REGS, -1), InvalidArgumentError, /negative/],
    [
      "mem_mapMMIO of RAM the frame allocator manages",
      ({ s }) => s.dma.mem_mapMMIO(0x20_0000, PAGE),
      DmaError,
      /0x200000 is RAM managed by the frame allocator/,
    ],
    [
      "mem_mapMMIO of a range that runs into managed RAM",
      ({ s }) => s.dma.mem_mapMMIO(0xf_f000, 2 * PAGE),
      DmaError,
      /0x100000 is RAM managed/,
    ],
    [
      "mem_mapMMIO beyond the physical address width",
      ({ s }) => s.dma.mem_mapMMIO(2 ** s.arch.physicalAddressBits - PAGE, 2 * PAGE),
      InvalidArgumentError,
      /physical address space/,
    ],
    [
      "mapMMIO as write-back",
      ({ s }) => s.dma.mapMMIO({ phys: LOG_REGS, size: 4, memoryType: MemoryType.WB }),
      InvalidArgumentError,
      /MMIO must not be cached/,
    ],
    [
      "mapMMIO with a memory type that does not exist",
      ({ s }) => s.dma.mapMMIO({ phys: LOG_REGS, size: 4, memoryType: 3 as MemoryTypeValue }),
      InvalidArgumentError,
      /memoryType = 3: not a memory type/,
    ],
    ["mem_unmapMMIO(NaN)", ({ s }) => s.dma.mem_unmapMMIO(Number.NaN, 4), InvalidArgumentError, /virt = NaN/],
    ["mem_unmapMMIO size 0", ({ s, regs }) => s.dma.mem_unmapMMIO(regs, 0), InvalidArgumentError, /size = 0/],
    [
      "mem_unmapMMIO of the page instead of the address returned",
      ({ s, regs }) => s.dma.mem_unmapMMIO(regs - 0x10, 0x30),
      DmaError,
      /points inside the MMIO mapping/,
    ],
    [
      "mem_unmapMMIO with a size reaching another page",
      ({ s, regs }) => s.dma.mem_unmapMMIO(regs, PAGE),
      DmaError,
      /4096 bytes cover 2$/,
    ],
    ["a double mem_unmapMMIO", ({ s, unmapped }) => s.dma.mem_unmapMMIO(unmapped, 8), DmaError, /released already/],
    [
      "mem_unmapMMIO of a DMA buffer",
      ({ s, buffer }) => s.dma.mem_unmapMMIO(buffer, 2 * PAGE),
      DmaError,
      /not in the mmio window/,
    ],
  ];

  for (const [name, call, type, message] of cases) {
    it(`${name} throws ${type.name} naming the problem and changes nothing`, () => {
      const c = populated();
      const before = observe(c.s);
      let thrown: unknown;
      try {
        call(c);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(type);
      expect((thrown as Error).message).toMatch(message);
      expect(observe(c.s)).toEqual(before);
      // The live buffer and mapping still work.
      c.s.arch.memory.write32(c.buffer + PAGE, 0xdead_beef);
      expect(c.s.arch.memory.read32(c.buffer + PAGE)).toBe(0xdead_beef);
      c.s.arch.memory.write32(c.regs, 7);
      expect(c.s.arch.memory.read32(c.regs)).toBe(7);
    });
  }

  it("names each DmaError's problem", () => {
    const c = populated();
    const problem = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return error instanceof DmaError ? error.problem : "other";
      }
      return "none";
    };
    expect(problem(() => c.s.dma.mem_freeDMA(c.freed, PAGE))).toBe("double-free");
    expect(problem(() => c.s.dma.mem_freeDMA(c.buffer + PAGE, PAGE))).toBe("interior-pointer");
    expect(problem(() => c.s.dma.mem_freeDMA(c.buffer, 3 * PAGE))).toBe("size-mismatch");
    expect(problem(() => c.s.dma.mem_freeDMA(c.s.dma.dmaWindow.base + 64 * PAGE, PAGE))).toBe("not-allocated");
    expect(problem(() => c.s.dma.mem_freeDMA(c.regs, 4))).toBe("outside-window");
    expect(problem(() => c.s.dma.mem_mapMMIO(0x40_0000, 4))).toBe("managed-ram");
  });
});

describe("exhaustion returns 0 and leaks nothing", () => {
  it("a full DMA window: mem_allocateDMA returns 0, allocateDMA says window-full", () => {
    const s = makeStack({ windows: { dma: { name: "dma", base: 0xf800_0000_0000, size: 8 * PAGE } } });
    const a = s.dma.mem_allocateDMA(3 * PAGE); // 3 pages + guard
    const b = s.dma.mem_allocateDMA(2 * PAGE); // 2 pages + guard: 7 of 8 taken
    expect(a).not.toBe(0);
    expect(b).not.toBe(0);
    const before = observe(s);
    expect(s.dma.mem_allocateDMA(PAGE)).toBe(0);
    const typed = s.dma.allocateDMA({ size: PAGE });
    expect(typed).toMatchObject({ ok: false, reason: "window-full" });
    expect(observe(s)).toEqual(before);
    s.dma.mem_freeDMA(a, 3 * PAGE);
    expect(s.dma.mem_allocateDMA(3 * PAGE)).toBe(a);
  });

  it("a full MMIO window: mem_mapMMIO returns 0, mapMMIO says window-full", () => {
    const s = makeStack({ windows: { mmio: { name: "mmio", base: 0xfff0_0000_0000, size: 4 * PAGE } } });
    const v = s.dma.mem_mapMMIO(FRAMEBUFFER, 2 * PAGE);
    expect(v).not.toBe(0);
    const before = observe(s);
    expect(s.dma.mem_mapMMIO(FRAMEBUFFER, 2 * PAGE)).toBe(0);
    expect(s.dma.mapMMIO({ phys: FRAMEBUFFER, size: 2 * PAGE })).toMatchObject({ ok: false, reason: "window-full" });
    expect(observe(s)).toEqual(before);
  });

  it("a request larger than the whole MMIO window fails at once with window-full", () => {
    const s = makeStack();
    const before = observe(s);
    expect(s.dma.mem_mapMMIO(2 ** 40, 2 ** 40)).toBe(0);
    expect(s.dma.mapMMIO({ phys: 2 ** 40, size: 2 ** 40 })).toMatchObject({ ok: false, reason: "window-full" });
    expect(observe(s)).toEqual(before);
  });

  it("a page mapped behind the layer's back inside its window is a kernel panic, after giving everything back", () => {
    const s = makeStack();
    const first = s.dma.mem_allocateDMA(PAGE);
    const intruder = s.buddy.allocFrame();
    const next = first + 2 * PAGE; // where the next buffer goes (after the guard page)
    const protection = { writable: true, user: false, executable: false };
    expect(s.arch.memory.map(next + PAGE, intruder, PAGE, protection)).toEqual({ ok: true });
    const before = observe(s);
    let thrown: unknown;
    try {
      s.dma.mem_allocateDMA(2 * PAGE);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(KernelPanic);
    expect((thrown as KernelPanic).stopName).toBe("MEMORY_MANAGEMENT_ERROR");
    expect((thrown as Error).message).toMatch(/mapped by someone else/);
    expect(observe(s)).toEqual(before);
  });

  it("too few frames: returns 0 / out-of-memory, with the frame count and page tables as before", () => {
    const s = makeStack();
    s.dma.mem_allocateDMA(PAGE); // the window's page tables exist now
    const before = observe(s);
    const free = s.buddy.stats().freeFrames;
    expect(s.dma.mem_allocateDMA((free + 1) * PAGE)).toBe(0);
    expect(s.dma.allocateDMA({ size: (free + 1) * PAGE })).toMatchObject({ ok: false, reason: "out-of-memory" });
    expect(observe(s)).toEqual(before);
  });

  it("a request for exactly the frames left succeeds (the original panicked when free frames <= the request)", () => {
    const s = makeStack();
    s.dma.mem_freeDMA(s.dma.mem_allocateDMA(PAGE), PAGE); // the window's page tables exist now
    const taken = drainFrames(s.archFrames, 3);
    const r = s.dma.allocateDMA({ size: 3 * PAGE });
    expect(r.ok).toBe(true);
    expect(s.buddy.stats().freeFrames).toBe(0);
    expect(s.dma.mem_allocateDMA(PAGE)).toBe(0);
    if (r.ok) s.dma.mem_freeDMA(r.virt, 3 * PAGE);
    expect(s.buddy.stats().freeFrames).toBe(3);
    for (const f of taken) s.archFrames.free(f);
  });

  it("frames for the buffer but none for its page table: the buffer's frames are given back", () => {
    const s = makeStack();
    // Leave exactly 2 free frames: enough for a 2-page buffer, none for the page tables a fresh window needs.
    const taken = drainFrames(s.archFrames, 2);
    expect(s.buddy.stats().freeFrames).toBe(2);
    const before = observe(s);
    const result = s.dma.allocateDMA({ size: 2 * PAGE });
    expect(result).toMatchObject({ ok: false, reason: "out-of-memory" });
    if (!result.ok) expect(result.message).toMatch(/page table/);
    expect(observe(s)).toEqual(before);
    // And with no frame at all, an MMIO mapping cannot get its page table either.
    taken.push(...drainFrames(s.archFrames, 0));
    const dry = observe(s);
    expect(s.dma.mem_mapMMIO(FRAMEBUFFER, PAGE)).toBe(0);
    expect(s.dma.mapMMIO({ phys: FRAMEBUFFER, size: PAGE })).toMatchObject({ ok: false, reason: "out-of-memory" });
    expect(observe(s)).toEqual(dry);
    for (const f of taken) s.archFrames.free(f);
    const ok = s.dma.allocateDMA({ size: 2 * PAGE });
    expect(ok.ok).toBe(true);
  });
});

describe("a bus-mastering device and the CPU see the same DMA buffer", () => {
  function withEngine(busMastering = { on: true }) {
    const s = makeStack();
    const engine = new CopyEngine(s.machine.createBusMaster(() => busMastering.on));
    s.machine.addressMap.addRegion(ENGINE_REGS, PAGE, { kind: "registers", name: "copy-engine", handler: engine });
    const regs = s.dma.mem_mapMMIO(ENGINE_REGS, PAGE);
    const mem = s.arch.memory;
    const program = (bus: number, length: number, command: number) => {
      mem.write32(regs + CopyEngineRegister.ADDRESS_LO, bus % 2 ** 32);
      mem.write32(regs + CopyEngineRegister.ADDRESS_HI, Math.floor(bus / 2 ** 32));
      mem.write32(regs + CopyEngineRegister.LENGTH, length);
      mem.write32(regs + CopyEngineRegister.COMMAND, command);
      return mem.read32(regs + CopyEngineRegister.STATUS);
    };
    return { s, engine, regs, program };
  }

  it("the device reads exactly what the CPU wrote through the buffer's virtual address", () => {
    const { s, engine, regs, program } = withEngine();
    expect(s.arch.memory.read32(regs + CopyEngineRegister.ID)).toBe(COPY_ENGINE_ID);
    const buffer = s.dma.mem_allocateDMA(2 * PAGE);
    const data = pattern(3000, 7);
    s.arch.memory.write(buffer + 0x900, data); // crosses into the second page
    expect(program(s.physicalAddress(buffer + 0x900), 3000, CopyEngineCommand.FETCH)).toBe(1);
    expect(engine.buffer.subarray(0, 3000)).toEqual(data);
  });

  it("the CPU reads exactly what the device wrote at the bus address", () => {
    const { s, engine, program } = withEngine();
    const buffer = s.dma.mem_allocateDMA(PAGE);
    engine.buffer.set(pattern(PAGE, 99));
    expect(program(s.physicalAddress(buffer), PAGE, CopyEngineCommand.STORE)).toBe(1);
    const seen = new Uint8Array(PAGE);
    s.arch.memory.read(buffer, seen);
    expect(seen).toEqual(pattern(PAGE, 99));
    expect(s.arch.memory.read32(buffer + 0x10)).toBe(new DataView(pattern(PAGE, 99).buffer).getUint32(0x10, true));
  });

  it("round trip: CPU -> device -> another buffer -> CPU, through bus addresses only", () => {
    const { s, program } = withEngine();
    const a = s.dma.allocateDMA({ size: PAGE, limit: 2 ** 32 });
    const b = s.dma.allocateDMA({ size: PAGE, limit: 2 ** 32 });
    if (!a.ok || !b.ok) throw new Error("allocation failed");
    s.arch.memory.write(a.virt, pattern(PAGE, 3));
    program(a.phys, PAGE, CopyEngineCommand.FETCH);
    program(b.phys, PAGE, CopyEngineCommand.STORE);
    const seen = new Uint8Array(PAGE);
    s.arch.memory.read(b.virt, seen);
    expect(seen).toEqual(pattern(PAGE, 3));
  });

  it("with bus mastering off the device cannot touch the buffer", () => {
    const enabled = { on: false };
    const { s, engine, program } = withEngine(enabled);
    const buffer = s.dma.mem_allocateDMA(PAGE);
    expect(program(s.physicalAddress(buffer), 16, CopyEngineCommand.STORE)).toBe(0x80);
    expect(() => s.machine.createBusMaster(() => false).write8(s.physicalAddress(buffer), 1)).toThrow(
      BusMasterDisabledError,
    );
    expect(engine.buffer.every((x) => x === 0)).toBe(true);
  });

  it("the device accepts only 32-bit register accesses, and the CPU's accesses arrive with their width", () => {
    const { s, engine, regs } = withEngine();
    s.arch.memory.write16(regs + CopyEngineRegister.LENGTH, 5);
    s.arch.memory.write8(regs + CopyEngineRegister.LENGTH, 5);
    expect(engine.badWidthAccesses).toBe(2);
    expect(s.arch.memory.read32(regs + CopyEngineRegister.LENGTH)).toBe(0);
  });
});

describe("MMIO mappings reach the device", () => {
  it("memset and memcpy through a mapping of a RAM-like framebuffer land in the device's memory", () => {
    const s = makeStack();
    const vram = new Uint8Array(4 * MiB);
    s.machine.addressMap.addRegion(FRAMEBUFFER, vram.length, { kind: "ram", name: "framebuffer", bytes: vram });
    const fb = s.dma.mem_mapMMIO(FRAMEBUFFER, vram.length);
    expect(fb).not.toBe(0);
    s.arch.memory.fill(fb, vram.length, 0x5a);
    expect(vram.every((b) => b === 0x5a)).toBe(true);
    // memcpy from a DMA buffer (any kernel memory) into the framebuffer, across page boundaries.
    const src = s.dma.mem_allocateDMA(3 * PAGE);
    s.arch.memory.write(src, pattern(3 * PAGE, 11));
    s.arch.memory.copy(fb + 0x1_0800, src, 3 * PAGE);
    expect(vram.subarray(0x1_0800, 0x1_0800 + 3 * PAGE)).toEqual(pattern(3 * PAGE, 11));
    expect(vram[0x1_07ff]).toBe(0x5a);
    expect(vram[0x1_0800 + 3 * PAGE]).toBe(0x5a);
    // A 32-bpp pixel.
    s.arch.memory.write32(fb + (10 * 1024 + 20) * 4, 0x00ff_8800);
    expect(new DataView(vram.buffer).getUint32((10 * 1024 + 20) * 4, true)).toBe(0x00ff_8800);
  });

  it("keeps the sub-page offset: the returned address is that of phys itself", () => {
    const s = makeStack();
    const vram = new Uint8Array(2 * PAGE);
    s.machine.addressMap.addRegion(FRAMEBUFFER, vram.length, { kind: "ram", name: "fb", bytes: vram });
    const v = s.dma.mem_mapMMIO(FRAMEBUFFER + 0xff0, 0x20); // straddles two pages
    expect(v % PAGE).toBe(0xff0);
    expect(s.physicalAddress(v)).toBe(FRAMEBUFFER + 0xff0);
    s.arch.memory.write(v, pattern(0x20, 1));
    expect(vram.subarray(0xff0, 0x1010)).toEqual(pattern(0x20, 1));
    expect(s.dma.mem_getMMIOUsage()).toBe(2 * PAGE);
    expect(s.dma.mappings()).toMatchObject([{ kind: "mmio", virt: v, phys: FRAMEBUFFER + 0xff0, size: 0x20 }]);
    s.dma.mem_unmapMMIO(v, 0x20);
    expect(s.dma.mem_getMMIOUsage()).toBe(0);
    expect(() => s.arch.memory.read8(v)).toThrow(PageFault);
  });

  it("register accesses reach the handlers with their widths and values", () => {
    const s = makeStack();
    const regs = new LoggingRegisters(PAGE, true);
    s.machine.addressMap.addRegion(LOG_REGS, PAGE, { kind: "registers", name: "log", handler: regs });
    const v = s.dma.mem_mapMMIO(LOG_REGS, PAGE);
    const m = s.arch.memory;
    m.write8(v + 0x01, 0xab);
    m.write16(v + 0x02, 0xbeef);
    m.write32(v + 0x04, 0xcafe_f00d);
    m.write64(v + 0x08, 0x0123_4567_89ab_cdefn);
    expect(m.read8(v + 0x01)).toBe(0xab);
    expect(m.read16(v + 0x02)).toBe(0xbeef);
    expect(m.read32(v + 0x04)).toBe(0xcafe_f00d);
    expect(m.read64(v + 0x08)).toBe(0x0123_4567_89ab_cdefn);
    expect(regs.log).toEqual([
      { op: "write", offset: 0x01, size: 1, value: 0xab },
      { op: "write", offset: 0x02, size: 2, value: 0xbeef },
      { op: "write", offset: 0x04, size: 4, value: 0xcafe_f00d },
      { op: "write", offset: 0x08, size: 8, value: 0x0123_4567_89ab_cdefn },
      { op: "read", offset: 0x01, size: 1, value: 0xab },
      { op: "read", offset: 0x02, size: 2, value: 0xbeef },
      { op: "read", offset: 0x04, size: 4, value: 0xcafe_f00d },
      { op: "read", offset: 0x08, size: 8, value: 0x0123_4567_89ab_cdefn },
    ]);
  });

  it("a 64-bit access to a device without 64-bit handlers arrives as two 32-bit accesses, low half first", () => {
    const s = makeStack();
    const regs = new LoggingRegisters(PAGE, false);
    s.machine.addressMap.addRegion(LOG_REGS, PAGE, { kind: "registers", name: "log", handler: regs });
    const v = s.dma.mem_mapMMIO(LOG_REGS + 0x100, 16);
    s.arch.memory.write64(v, 0x1111_2222_3333_4444n);
    expect(regs.log).toEqual([
      { op: "write", offset: 0x100, size: 4, value: 0x3333_4444 },
      { op: "write", offset: 0x104, size: 4, value: 0x1111_2222 },
    ]);
  });

  it("mem_mapMMIO maps uncacheable and kernel-only; the write-combining variant maps WC", () => {
    const s = makeStack();
    const uc = s.dma.mem_mapMMIO(FRAMEBUFFER, PAGE);
    const wc = s.dma.mem_mapMMIOWriteCombine(FRAMEBUFFER, PAGE);
    expect(s.page(uc)).toEqual({ phys: FRAMEBUFFER, writable: true, user: false, executable: false, memoryType: 0 });
    expect(s.page(wc)).toMatchObject({ phys: FRAMEBUFFER, user: false, memoryType: MemoryType.WC });
    expect(s.dma.mappings().map((m) => m.memoryType)).toEqual([MemoryType.UC, MemoryType.WC]);
  });

  it("a device range outside any device (a hole) can be mapped; reads float high as on real hardware", () => {
    const s = makeStack();
    const v = s.dma.mem_mapMMIO(0xf000_0000, PAGE);
    expect(s.arch.memory.read32(v)).toBe(0xffff_ffff);
  });
});

describe("owners and listings", () => {
  it("tags each buffer and mapping with the owner current at the call, and releases one owner's", () => {
    let current = KERNEL_OWNER;
    const owners: OwnerContext = {
      current: () => current,
      nameOf: (o) => (o === KERNEL_OWNER ? "kernel" : `driver ${o}`),
    };
    const s = makeStack({ owners });
    const k = s.dma.mem_allocateDMA(PAGE);
    current = 7;
    const d = s.dma.mem_allocateDMA(2 * PAGE);
    const m = s.dma.mem_mapMMIO(FRAMEBUFFER + 4, 8);
    current = 9;
    const other = s.dma.mem_mapMMIO(FRAMEBUFFER, PAGE);
    expect(s.dma.mappings(7)).toEqual([
      {
        kind: "dma",
        virt: d,
        phys: s.physicalAddress(d),
        size: 2 * PAGE,
        owner: 7,
        mappedSize: 2 * PAGE,
        memoryType: MemoryType.UC,
        ownerName: "driver 7",
      },
      {
        kind: "mmio",
        virt: m,
        phys: FRAMEBUFFER + 4,
        size: 8,
        owner: 7,
        mappedSize: PAGE,
        memoryType: MemoryType.UC,
        ownerName: "driver 7",
      },
    ]);
    expect(s.dma.mappings().map((x) => [x.virt, x.owner])).toEqual([
      [k, KERNEL_OWNER],
      [d, 7],
      [m, 7],
      [other, 9],
    ]);
    const heldBefore = s.dmaFrames.held.size;
    const released = s.dma.releaseOwner(7);
    expect(released.map((x) => x.virt)).toEqual([d, m]);
    expect(s.dmaFrames.held.size).toBe(heldBefore - 2);
    expect(s.dma.mappings().map((x) => x.owner)).toEqual([KERNEL_OWNER, 9]);
    expect(s.dma.mem_getDMAUsage()).toBe(PAGE);
    expect(s.dma.mem_getMMIOUsage()).toBe(PAGE);
  });

  it("formatMappings() prints each live buffer and mapping in canonical form with its owner", () => {
    const s = makeStack();
    const d = s.dma.mem_allocateDMA(5000);
    s.dma.mem_mapMMIOWriteCombine(FRAMEBUFFER + 0x10, 0x20);
    const phys = s.physicalAddress(d).toString(16).toUpperCase().padStart(16, "0");
    expect(s.dma.formatMappings().split("\n")).toEqual([
      `DMA  0xFFFFF80000000000-0xFFFFF80000001FFF -> 0x${phys} UC  5000 bytes  kernel`,
      "MMIO 0xFFFFFFF000000000-0xFFFFFFF000000FFF -> 0x00000000D0000010 WC  32 bytes  kernel",
    ]);
  });

  it("usage() reports counts, mapped and reserved bytes of both windows", () => {
    const s = makeStack();
    s.dma.mem_allocateDMA(PAGE);
    s.dma.mem_allocateDMA(3 * PAGE);
    s.dma.mem_mapMMIO(FRAMEBUFFER, 2 * PAGE);
    const u = s.dma.usage();
    expect(u.dma).toMatchObject({ count: 2, mappedBytes: 4 * PAGE, reservedBytes: 6 * PAGE });
    expect(u.mmio).toMatchObject({ count: 1, mappedBytes: 2 * PAGE, reservedBytes: 3 * PAGE });
    expect(u.dma.largestFree).toBe(s.arch.layout.dma.size - 6 * PAGE);
  });

  it("refuses DMA and MMIO windows that overlap", () => {
    expect(() => makeStack({ windows: { dma: { name: "d", base: 0xfff0_0000_0000, size: PAGE } } })).toThrow(
      /windows overlap/,
    );
  });
});
