import { type InterruptSink, InvalidArgumentError } from "@ksim/core";
import { describe, expect, it } from "vitest";
import { Machine } from "./machine.js";

const MiB = 2 ** 20;

function recordingSink() {
  const events: string[] = [];
  const sink: InterruptSink = {
    line: (line, asserted) => events.push(`line ${line} ${asserted ? "up" : "down"}`),
    message: (address, data) => events.push(`msi ${address.toString(16)} ${data.toString(16)}`),
  };
  return { events, sink };
}

describe("pin lines", () => {
  it("the sink hears each change of level, not repeats", () => {
    const machine = new Machine({ ramSize: 4 * MiB });
    const { events, sink } = recordingSink();
    machine.setInterruptSink(sink);
    machine.interrupts.setLine(11, true);
    machine.interrupts.setLine(11, true);
    machine.interrupts.setLine(11, false);
    expect(events).toEqual(["line 11 up", "line 11 down"]);
    expect(machine.stats.interruptLineChanges).toBe(2);
  });

  it("with no sink, asserted lines are remembered and delivered when a sink attaches", () => {
    const machine = new Machine({ ramSize: 4 * MiB });
    machine.interrupts.setLine(3, true);
    machine.interrupts.setLine(5, true);
    machine.interrupts.setLine(5, false);
    expect(machine.interrupts.isAsserted(3)).toBe(true);
    const { events, sink } = recordingSink();
    machine.setInterruptSink(sink);
    expect(events).toEqual(["line 3 up"]);
  });

  it.each([Number.NaN, -1, 256, 1.5])("line %s is refused", (line) => {
    const machine = new Machine({ ramSize: 4 * MiB });
    expect(() => machine.interrupts.setLine(line, true)).toThrow(InvalidArgumentError);
  });

  it("a non-boolean level is refused and changes nothing", () => {
    const machine = new Machine({ ramSize: 4 * MiB });
    expect(() => machine.interrupts.setLine(1, 1 as unknown as boolean)).toThrow(InvalidArgumentError);
    expect(machine.interrupts.isAsserted(1)).toBe(false);
  });
});

describe("message-signalled interrupts", () => {
  it("a DWORD written by the CPU into the MSI window becomes a message; narrower writes do not", () => {
    const machine = new Machine({ ramSize: 4 * MiB });
    const { events, sink } = recordingSink();
    machine.setInterruptSink(sink);
    machine.memory.write32(0xfee0_0000, 0x4041);
    machine.memory.write16(0xfee0_1000, 0x41);
    machine.memory.write8(0xfee0_1000, 0x41);
    machine.memory.write32(0xfee0_1002, 0x41);
    expect(events).toEqual(["msi fee00000 4041"]);
  });

  it("a device's bus-master write and sendMessage take the same path", () => {
    const machine = new Machine({ ramSize: 4 * MiB });
    const { events, sink } = recordingSink();
    machine.setInterruptSink(sink);
    const dma = machine.createBusMaster(() => true);
    dma.write32(0xfee0_100c, 0x31);
    machine.interrupts.sendMessage(0xfee0_2000, 0x8000_0022);
    expect(events).toEqual(["msi fee0100c 31", "msi fee02000 80000022"]);
    expect(machine.stats.interruptMessages).toBe(2);
  });

  it("messages sent with no sink are queued and delivered in order when one attaches", () => {
    const machine = new Machine({ ramSize: 4 * MiB });
    machine.interrupts.sendMessage(0xfee0_0000, 1);
    machine.interrupts.sendMessage(0xfee0_0000, 2);
    expect(machine.interrupts.pendingMessages()).toEqual([
      { address: 0xfee0_0000, data: 1 },
      { address: 0xfee0_0000, data: 2 },
    ]);
    const { events, sink } = recordingSink();
    machine.setInterruptSink(sink);
    expect(events).toEqual(["msi fee00000 1", "msi fee00000 2"]);
    expect(machine.interrupts.pendingMessages()).toEqual([]);
  });

  it.each([
    ["below the window", 0xfed0_0000, 1],
    ["above the window", 0xfef0_0000, 1],
    ["misaligned", 0xfee0_0002, 1],
    ["NaN address", Number.NaN, 1],
    ["data over 32 bits", 0xfee0_0000, 2 ** 32],
    ["fractional data", 0xfee0_0000, 0.5],
  ])("sendMessage %s is refused and nothing is sent", (_, address, data) => {
    const machine = new Machine({ ramSize: 4 * MiB });
    expect(() => machine.interrupts.sendMessage(address, data)).toThrow(InvalidArgumentError);
    expect(machine.interrupts.pendingMessages()).toEqual([]);
    expect(machine.stats.interruptMessages).toBe(0);
  });

  it("a sink without line/message functions is refused", () => {
    const machine = new Machine({ ramSize: 4 * MiB });
    expect(() => machine.setInterruptSink({ line() {} } as unknown as InterruptSink)).toThrow(InvalidArgumentError);
  });
});
