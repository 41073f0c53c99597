import { InvalidArgumentError, MemoryRegionType } from "@ksim/core";
import { describe, expect, it } from "vitest";
import { HIGH_RAM_BASE, LOW_MEGABYTE } from "./layout.js";
import { Machine } from "./machine.js";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const TiB = 2 ** 40;

describe("Machine construction", () => {
  it("a 64 GiB machine builds with no RAM allocated, reads zero everywhere and keeps 3 GiB below the PCI hole", () => {
    const machine = new Machine({ ramSize: 64 * GiB });
    expect(machine.stats.ramChunksAllocated).toBe(0);
    expect(machine.layout.lowRamEnd).toBe(3 * GiB);
    expect(machine.layout.highRamEnd).toBe(HIGH_RAM_BASE + 61 * GiB);
    expect(machine.memory.read64(0)).toBe(0n);
    expect(machine.memory.read32(3 * GiB - 4)).toBe(0);
    expect(machine.memory.read32(HIGH_RAM_BASE + 61 * GiB - 4)).toBe(0);
    expect(machine.memory.read32(HIGH_RAM_BASE + 61 * GiB)).toBe(0xffff_ffff);
    expect(machine.stats.ramChunksAllocated).toBe(0);
  });

  it("a 1 TiB machine builds with a table of at most 2^20 chunks and its last byte of RAM works", () => {
    const before = process.memoryUsage().arrayBuffers;
    const machine = new Machine({ ramSize: TiB, lowRam: "chunked" });
    // Host buffers for RAM: only the two shared all-zero chunks (64 KiB low, 1 MiB high).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 * MiB);
    expect(machine.lowRam.chunkCount).toBe(3 * 2 ** 14);
    expect(machine.highRam!.chunkCount).toBeLessThanOrEqual(2 ** 20);
    const last = machine.layout.highRamEnd - 1;
    expect(machine.memory.read8(last)).toBe(0);
    machine.memory.write8(last, 0x5a);
    expect(machine.memory.read8(last)).toBe(0x5a);
    expect(machine.stats.ramChunksAllocated).toBe(1);
  });

  it("by default low RAM is one host buffer (memory.linearView) and RAM above 4 GiB is chunked", () => {
    const machine = new Machine({ ramSize: 8 * GiB });
    const memory = machine.memory;
    const view = memory.linearView!;
    expect(view.byteLength).toBe(3 * GiB);
    expect(machine.lowRam.chunkCount).toBe(3 * 2 ** 14);
    // Both edges of low RAM, the hole above it, and both ends of high RAM.
    memory.write64(3 * GiB - 8, 0x0102_0304_0506_0708n);
    expect(view.getBigUint64(3 * GiB - 8, true)).toBe(0x0102_0304_0506_0708n);
    expect(memory.read32(3 * GiB - 2)).toBe(0xffff_0102); // the last two bytes of RAM, then the hole
    expect(memory.read32(3 * GiB)).toBe(0xffff_ffff);
    memory.write32(HIGH_RAM_BASE, 0xcafe_f00d);
    memory.write32(HIGH_RAM_BASE + 5 * GiB - 4, 0x600d_cafe);
    expect(memory.read32(HIGH_RAM_BASE)).toBe(0xcafe_f00d);
    expect(memory.read32(HIGH_RAM_BASE + 5 * GiB - 4)).toBe(0x600d_cafe);
    expect(machine.stats.ramChunksAllocated).toBe(3);
    // A copy from high RAM into low RAM lands in the buffer.
    memory.copy(0x10_0000, HIGH_RAM_BASE, 4);
    expect(view.getUint32(0x10_0000, true)).toBe(0xcafe_f00d);
  });

  it('lowRam: "chunked" keeps RAM below the hole in 64 KiB chunks and offers no linearView', () => {
    const machine = new Machine({ ramSize: 64 * MiB, lowRam: "chunked" });
    expect(machine.memory.linearView).toBeUndefined();
    machine.memory.write32(0x1_fffe, 0xa1b2_c3d4); // straddles two chunks
    expect(machine.memory.read32(0x1_fffe)).toBe(0xa1b2_c3d4);
    expect(machine.stats.ramChunksAllocated).toBe(2);
    expect(machine.stats.ramBytesAllocated).toBe(2 * 64 * 1024);
  });

  it("a machine smaller than the low-memory top has no RAM above 4 GiB", () => {
    const machine = new Machine({ ramSize: 512 * MiB });
    expect(machine.layout.lowRamEnd).toBe(512 * MiB);
    expect(machine.layout.highRamEnd).toBe(HIGH_RAM_BASE);
    expect(machine.memory.backing(HIGH_RAM_BASE)).toEqual({ kind: "none" });
    expect(machine.memory.backing(512 * MiB - 1)).toEqual({ kind: "ram" });
    expect(machine.memory.backing(512 * MiB)).toEqual({ kind: "none" });
  });

  it("lowMemoryTop moves the PCI hole", () => {
    const machine = new Machine({ ramSize: 4 * GiB, lowMemoryTop: 2 * GiB });
    expect(machine.layout.lowRamEnd).toBe(2 * GiB);
    expect(machine.layout.highRamEnd).toBe(HIGH_RAM_BASE + 2 * GiB);
    expect(machine.memory.backing(2 * GiB)).toEqual({ kind: "none" });
  });

  it.each([
    [{ ramSize: Number.NaN }, "ramSize"],
    [{ ramSize: -4096 }, "ramSize"],
    [{ ramSize: 2 * MiB + 0.5 }, "ramSize"],
    [{ ramSize: 2 * MiB + 100 }, "ramSize"],
    [{ ramSize: MiB }, "ramSize"],
    [{ ramSize: 2 ** 45 }, "ramSize"],
    [{ ramSize: 8 * MiB, lowMemoryTop: 3 * GiB + 1 }, "lowMemoryTop"],
    [{ ramSize: 8 * MiB, lowMemoryTop: 4 * GiB }, "lowMemoryTop"],
    [{ ramSize: 8 * MiB, strict: 1 as unknown as boolean }, "strict"],
    [{ ramSize: 8 * MiB, lowRam: "flat" as unknown as "linear" }, "lowRam"],
  ])("bad options %o are refused, naming %s", (options, argument) => {
    let error: unknown;
    try {
      new Machine(options);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).argument).toBe(argument);
  });
});

describe("firmware memory map", () => {
  it("reserves the first MiB, lists usable RAM and the ACPI area below the hole, reserved chipset ranges, and RAM above 4 GiB", () => {
    const machine = new Machine({ ramSize: 8 * GiB });
    const map = machine.firmwareMemoryMap;
    expect(map[0]).toEqual({ base: 0, length: LOW_MEGABYTE, type: MemoryRegionType.Reserved });
    expect(map[1]).toEqual({
      base: LOW_MEGABYTE,
      length: 3 * GiB - LOW_MEGABYTE - 0x2_0000,
      type: MemoryRegionType.Usable,
    });
    expect(map.at(-1)).toEqual({ base: HIGH_RAM_BASE, length: 5 * GiB, type: MemoryRegionType.Usable });
    for (let i = 1; i < map.length; i++) {
      expect(map[i]!.base).toBeGreaterThanOrEqual(map[i - 1]!.base + map[i - 1]!.length);
    }
    // Nothing in the PCI hole is usable, and every usable byte is RAM.
    for (const entry of map) {
      if (entry.type !== MemoryRegionType.Usable) continue;
      expect(machine.memory.backing(entry.base)).toEqual({ kind: "ram" });
      expect(machine.memory.backing(entry.base + entry.length - 1)).toEqual({ kind: "ram" });
    }
    const usable = map.filter((e) => e.type === MemoryRegionType.Usable).reduce((n, e) => n + e.length, 0);
    expect(usable).toBe(8 * GiB - LOW_MEGABYTE - 0x2_0000);
  });

  it("prints like Linux's BIOS-e820 lines", () => {
    const machine = new Machine({ ramSize: 512 * MiB });
    expect(machine.formatMemoryMap()).toBe(
      [
        "BIOS-e820: [mem 0x0000000000000000-0x00000000000fffff] reserved",
        "BIOS-e820: [mem 0x0000000000100000-0x000000001ffdffff] usable",
        "BIOS-e820: [mem 0x000000001ffe0000-0x000000001ffeffff] ACPI data",
        "BIOS-e820: [mem 0x000000001fff0000-0x000000001fffffff] ACPI NVS",
        "BIOS-e820: [mem 0x00000000e0000000-0x00000000efffffff] reserved",
        "BIOS-e820: [mem 0x00000000fec00000-0x00000000fec00fff] reserved",
        "BIOS-e820: [mem 0x00000000fee00000-0x00000000fee00fff] reserved",
        "BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved",
      ].join("\n"),
    );
  });
});

describe("iomem listing", () => {
  it("lists firmware ranges and device regions in address order, nesting ranges that lie inside another", () => {
    const machine = new Machine({ ramSize: 512 * MiB });
    machine.addressMap.addRegion(0xfd00_0000, 0x100_0000, {
      kind: "ram",
      name: "vga.fb",
      bytes: new Uint8Array(0x100_0000),
    });
    expect(machine.formatIomem()).toBe(
      [
        "00000000-000fffff : Reserved",
        "00100000-1ffdffff : System RAM",
        "1ffe0000-1ffeffff : ACPI Tables",
        "1fff0000-1fffffff : ACPI Non-volatile Storage",
        "e0000000-efffffff : Reserved",
        "fd000000-fdffffff : vga.fb",
        "fec00000-fec00fff : Reserved",
        "fee00000-feefffff : msi",
        "  fee00000-fee00fff : Reserved",
        "fffc0000-ffffffff : Reserved",
      ].join("\n"),
    );
  });
});
