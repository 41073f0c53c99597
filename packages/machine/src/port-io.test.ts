import { type AccessSize, InvalidArgumentError, type PortIoHandler } from "@ksim/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PortSpace } from "./port-io.js";

/** Ports that store bytes and log each access. */
function storingHandler(count: number) {
  const bytes = new Uint8Array(count);
  const log: string[] = [];
  const handler: PortIoHandler = {
    read(offset: number, size: AccessSize) {
      log.push(`in${size}@${offset}`);
      let v = 0;
      for (let i = 0; i < size; i++) v += bytes[offset + i]! * 2 ** (8 * i);
      return v;
    },
    write(offset: number, size: AccessSize, value: number) {
      log.push(`out${size}@${offset}=${value}`);
      for (let i = 0; i < size; i++) bytes[offset + i] = Math.floor(value / 2 ** (8 * i)) & 0xff;
    },
  };
  return { bytes, log, handler };
}

describe("port I/O", () => {
  it("unclaimed ports read all ones at every width and drop writes, counted per byte", () => {
    const ports = new PortSpace();
    expect(ports.inb(0x80)).toBe(0xff);
    expect(ports.inw(0x80)).toBe(0xffff);
    expect(ports.inl(0x80)).toBe(0xffff_ffff);
    ports.outl(0x80, 0);
    expect(ports.counters).toEqual({ unclaimedReads: 7, unclaimedWrites: 4 });
  });

  it("a claimed range gets accesses with its offset and full width", () => {
    const ports = new PortSpace();
    const dev = storingHandler(8);
    ports.register(0xcf8, 8, "pci", dev.handler);
    ports.outl(0xcf8, 0x8000_0000);
    expect(ports.inl(0xcf8)).toBe(0x8000_0000);
    ports.outb(0xcfc + 2, 0x5a);
    expect(ports.inw(0xcfc + 2)).toBe(0x5a);
    expect(dev.log).toEqual(["out4@0=2147483648", "in4@0", "out1@6=90", "in2@6"]);
  });

  it("an access spanning two ranges or unclaimed ports is split into bytes", () => {
    const ports = new PortSpace();
    const a = storingHandler(2);
    const b = storingHandler(2);
    ports.register(0x100, 2, "a", a.handler);
    ports.register(0x102, 2, "b", b.handler);
    ports.outl(0x100, 0x44332211);
    expect(ports.inl(0x100)).toBe(0x44332211);
    expect(a.log).toEqual(["out1@0=17", "out1@1=34", "in1@0", "in1@1"]);
    expect(b.log).toEqual(["out1@0=51", "out1@1=68", "in1@0", "in1@1"]);
    expect(ports.inw(0x103)).toBe(0xff44);
  });

  it("claiming a port twice is refused and leaves the first claim working", () => {
    const ports = new PortSpace();
    const dev = storingHandler(4);
    ports.register(0x60, 4, "kbd", dev.handler);
    expect(() => ports.register(0x63, 2, "other", storingHandler(2).handler)).toThrow('claimed by "kbd"');
    expect(ports.inb(0x64)).toBe(0xff);
    expect(ports.ranges().map((r) => r.name)).toEqual(["kbd"]);
    ports.outb(0x63, 9);
    expect(dev.bytes[3]).toBe(9);
  });

  it("a removed range's ports become unclaimed and can be claimed again; removing twice is an error", () => {
    const ports = new PortSpace();
    const range = ports.register(0x3f8, 8, "com1", storingHandler(8).handler);
    range.remove();
    expect(ports.inb(0x3f8)).toBe(0xff);
    expect(() => range.remove()).toThrow(InvalidArgumentError);
    ports.register(0x3f8, 8, "com1 again", storingHandler(8).handler);
    expect(ports.ranges().map((r) => r.name)).toEqual(["com1 again"]);
  });

  it.each([
    ["NaN port", () => new PortSpace().inb(Number.NaN)],
    ["negative port", () => new PortSpace().inw(-1)],
    ["port 0x10000", () => new PortSpace().outb(0x1_0000, 0)],
    ["fractional port", () => new PortSpace().inl(1.5)],
    ["dword at 0xFFFE", () => new PortSpace().inl(0xfffe)],
    ["byte value 256", () => new PortSpace().outb(0, 256)],
    ["word value 1.5", () => new PortSpace().outw(0, 1.5)],
    ["dword value 2^32", () => new PortSpace().outl(0, 2 ** 32)],
    ["zero count", () => new PortSpace().register(0, 0, "x", storingHandler(1).handler)],
    ["range past 0xFFFF", () => new PortSpace().register(0xfff0, 0x20, "x", storingHandler(1).handler)],
    ["empty name", () => new PortSpace().register(0, 1, "", storingHandler(1).handler)],
    ["handler without read", () => new PortSpace().register(0, 1, "x", { write() {} } as unknown as PortIoHandler)],
  ])("%s throws InvalidArgumentError", (_, call) => {
    expect(call).toThrow(InvalidArgumentError);
  });

  it("a refused write reaches no handler", () => {
    const ports = new PortSpace();
    const dev = storingHandler(4);
    ports.register(0, 4, "dev", dev.handler);
    expect(() => ports.outb(0, 0x100)).toThrow(InvalidArgumentError);
    expect(() => ports.outl(2, 0)).not.toThrow();
    expect(dev.log).toEqual(["out1@2=0", "out1@3=0"]);
  });

  it("reads and writes of every width agree with a byte-array model of ports (holes read 0xFF)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            write: fc.boolean(),
            port: fc.integer({ min: 0x1f0, max: 0x20f }),
            size: fc.constantFrom(1, 2, 4),
            value: fc.nat({ max: 0xffff_ffff }),
          }),
          { maxLength: 50 },
        ),
        (ops) => {
          const ports = new PortSpace();
          // Claimed: 0x1F8-0x1FF and 0x200-0x203; the rest is unclaimed.
          const a = storingHandler(8);
          const b = storingHandler(4);
          ports.register(0x1f8, 8, "a", a.handler);
          ports.register(0x200, 4, "b", b.handler);
          const model = new Map<number, number>();
          const claimed = (p: number) => p >= 0x1f8 && p < 0x204;
          for (const op of ops) {
            const mask = 2 ** (8 * op.size) - 1;
            if (op.write) {
              const value = op.value % (mask + 1);
              if (op.size === 1) ports.outb(op.port, value);
              else if (op.size === 2) ports.outw(op.port, value);
              else ports.outl(op.port, value);
              for (let i = 0; i < op.size; i++) {
                if (claimed(op.port + i)) model.set(op.port + i, Math.floor(value / 2 ** (8 * i)) & 0xff);
              }
            } else {
              const got = op.size === 1 ? ports.inb(op.port) : op.size === 2 ? ports.inw(op.port) : ports.inl(op.port);
              let expected = 0;
              for (let i = 0; i < op.size; i++) {
                const p = op.port + i;
                expected += (claimed(p) ? (model.get(p) ?? 0) : 0xff) * 2 ** (8 * i);
              }
              expect(got).toBe(expected);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
