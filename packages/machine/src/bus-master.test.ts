import { describe, expect, it } from "vitest";
import { BusMasterDisabledError } from "./bus-master.js";
import { Machine } from "./machine.js";

const MiB = 2 ** 20;

describe("bus master", () => {
  it("with bus mastering on, a device reads and writes the same physical memory as the CPU", () => {
    const machine = new Machine({ ramSize: 16 * MiB });
    const dma = machine.createBusMaster(() => true);
    expect(dma.enabled).toBe(true);
    dma.write32(0x20_0000, 0xcafe_babe);
    expect(machine.memory.read32(0x20_0000)).toBe(0xcafe_babe);
    dma.write(0x30_0000, Uint8Array.of(1, 2, 3));
    dma.copy(0x30_0010, 0x30_0000, 3);
    const out = new Uint8Array(3);
    machine.memory.read(0x30_0010, out);
    expect(Array.from(out)).toEqual([1, 2, 3]);
  });

  it("with bus mastering off, every access is refused and memory is unchanged", () => {
    const machine = new Machine({ ramSize: 16 * MiB });
    let enabled = false;
    const dma = machine.createBusMaster(() => enabled);
    machine.memory.write32(0x20_0000, 0x1234_5678);
    const calls: (() => unknown)[] = [
      () => dma.read8(0x20_0000),
      () => dma.read16(0x20_0000),
      () => dma.read32(0x20_0000),
      () => dma.read64(0x20_0000),
      () => dma.write8(0x20_0000, 1),
      () => dma.write16(0x20_0000, 1),
      () => dma.write32(0x20_0000, 1),
      () => dma.write64(0x20_0000, 1n),
      () => dma.fill(0x20_0000, 4, 0),
      () => dma.copy(0x20_0000, 0x10_0000, 4),
      () => dma.read(0x20_0000, new Uint8Array(4)),
      () => dma.write(0x20_0000, new Uint8Array(4)),
      () => dma.write32(0xfee0_0000, 0x41),
    ];
    for (const call of calls) expect(call).toThrow(BusMasterDisabledError);
    expect(machine.memory.read32(0x20_0000)).toBe(0x1234_5678);
    expect(machine.interrupts.pendingMessages()).toEqual([]);
    expect(dma.backing(0x20_0000)).toEqual({ kind: "ram" });
    enabled = true;
    expect(dma.read32(0x20_0000)).toBe(0x1234_5678);
  });

  it("createBusMaster without a function is refused", () => {
    const machine = new Machine({ ramSize: 16 * MiB });
    expect(() => machine.createBusMaster(true as unknown as () => boolean)).toThrow(/isEnabled/);
  });
});
