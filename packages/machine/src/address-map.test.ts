import { InvalidArgumentError, type MmioRegionSpec } from "@ksim/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Machine } from "./machine.js";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

const noRegisters: MmioRegionSpec = {
  kind: "registers",
  name: "dev",
  handler: { read: () => 0x12, write: () => {} },
};

function snapshot(machine: Machine) {
  return machine.addressMap.regions().map((r) => `${r.name}@${r.base.toString(16)}+${r.size.toString(16)}`);
}

describe("adding regions", () => {
  it("a RAM-like region is read and written through its own bytes", () => {
    const machine = new Machine({ ramSize: 64 * MiB });
    const fb = new Uint8Array(0x1000);
    const region = machine.addressMap.addRegion(0xc000_0000, 0x1000, { kind: "ram", name: "fb", bytes: fb });
    machine.memory.write32(0xc000_0010, 0xaabbccdd);
    expect(Array.from(fb.subarray(0x10, 0x14))).toEqual([0xdd, 0xcc, 0xbb, 0xaa]);
    fb[0x20] = 7;
    expect(machine.memory.read8(0xc000_0020)).toBe(7);
    expect(region).toMatchObject({ name: "fb", base: 0xc000_0000, size: 0x1000, kind: "ram" });
  });

  it.each([
    ["low RAM", 64 * MiB - 0x1000, 0x2000, "overlaps RAM"],
    ["the start of RAM", 0, 0x1000, "overlaps RAM"],
    ["high RAM", 4 * GiB + 0x1000, 0x1000, "overlaps RAM"],
    ["the MSI window", 0xfee0_0000 - 0x1000, 0x2000, 'overlaps region "msi"'],
    ["another region", 0xd000_0800, 0x1000, 'overlaps region "first"'],
  ])("a region overlapping %s is refused and the map is unchanged", (_, base, size, message) => {
    const machine = new Machine({ ramSize: 4 * GiB });
    machine.addressMap.addRegion(0xd000_0000, 0x1000, { ...noRegisters, name: "first" });
    const before = snapshot(machine);
    expect(() => machine.addressMap.addRegion(base, size, noRegisters)).toThrow(InvalidArgumentError);
    expect(() => machine.addressMap.addRegion(base, size, noRegisters)).toThrow(message);
    expect(snapshot(machine)).toEqual(before);
  });

  it.each([
    ["NaN base", Number.NaN, 0x1000, noRegisters],
    ["negative base", -4096, 0x1000, noRegisters],
    ["fractional base", 0xd000_0000 + 0.5, 0x1000, noRegisters],
    ["zero size", 0xd000_0000, 0, noRegisters],
    ["fractional size", 0xd000_0000, 10.5, noRegisters],
    ["past 2^52", 2 ** 52 - 0x800, 0x1000, noRegisters],
    ["bytes of the wrong length", 0xd000_0000, 0x1000, { kind: "ram", name: "fb", bytes: new Uint8Array(10) }],
    ["bytes not a Uint8Array", 0xd000_0000, 4, { kind: "ram", name: "fb", bytes: [1, 2, 3, 4] }],
    ["a handler without write", 0xd000_0000, 4, { kind: "registers", name: "x", handler: { read: () => 0 } }],
    ["an unknown kind", 0xd000_0000, 4, { kind: "rom", name: "x" }],
    ["an empty name", 0xd000_0000, 4, { ...noRegisters, name: "" }],
  ])("%s is refused with InvalidArgumentError and adds nothing", (_, base, size, spec) => {
    const machine = new Machine({ ramSize: 64 * MiB });
    const before = snapshot(machine);
    expect(() => machine.addressMap.addRegion(base, size, spec as MmioRegionSpec)).toThrow(InvalidArgumentError);
    expect(snapshot(machine)).toEqual(before);
  });
});

describe("moving and removing regions (BAR relocation)", () => {
  it("a moved RAM-like region keeps its contents and its old place becomes a hole", () => {
    const machine = new Machine({ ramSize: 64 * MiB });
    const fb = new Uint8Array(0x1000);
    const region = machine.addressMap.addRegion(0xc000_0000, 0x1000, { kind: "ram", name: "fb", bytes: fb });
    machine.memory.write32(0xc000_0000, 0x01020304);
    region.moveTo(0xd000_0000);
    expect(region.base).toBe(0xd000_0000);
    expect(machine.memory.read32(0xd000_0000)).toBe(0x01020304);
    expect(machine.memory.read32(0xc000_0000)).toBe(0xffff_ffff);
    expect(machine.memory.backing(0xd000_0000)).toEqual({
      kind: "device-ram",
      region: "fb",
      base: 0xd000_0000,
      size: 0x1000,
    });
  });

  it("moving onto RAM or another region is refused and the region stays where it was", () => {
    const machine = new Machine({ ramSize: 64 * MiB });
    const a = machine.addressMap.addRegion(0xc000_0000, 0x1000, { ...noRegisters, name: "a" });
    machine.addressMap.addRegion(0xc000_2000, 0x1000, { ...noRegisters, name: "b" });
    const before = snapshot(machine);
    expect(() => a.moveTo(0xc000_1800)).toThrow('overlaps region "b"');
    expect(() => a.moveTo(0x10_0000)).toThrow("overlaps RAM");
    expect(() => a.moveTo(Number.NaN)).toThrow(InvalidArgumentError);
    expect(() => a.moveTo(-1)).toThrow(InvalidArgumentError);
    expect(snapshot(machine)).toEqual(before);
    expect(machine.memory.read8(0xc000_0000)).toBe(0x12);
    // Moving onto a range that overlaps only its own old place is fine.
    a.moveTo(0xc000_0800);
    expect(a.base).toBe(0xc000_0800);
  });

  it("a removed region's addresses become unbacked, its place can be reused, and removing twice is an error", () => {
    const machine = new Machine({ ramSize: 64 * MiB });
    const a = machine.addressMap.addRegion(0xc000_0000, 0x1000, noRegisters);
    a.remove();
    expect(a.attached).toBe(false);
    expect(machine.memory.read8(0xc000_0000)).toBe(0xff);
    expect(() => a.remove()).toThrow(InvalidArgumentError);
    expect(() => a.moveTo(0xd000_0000)).toThrow(InvalidArgumentError);
    const b = machine.addressMap.addRegion(0xc000_0000, 0x1000, { ...noRegisters, name: "b" });
    expect(machine.addressMap.regions()).toContain(b);
    expect(machine.addressMap.regions()).not.toContain(a);
  });

  it("random adds, moves and removes keep the map sorted, non-overlapping and agreeing with an interval list", () => {
    const slot = 0x1000;
    const window = 0xc000_0000;
    const arbCommand = fc.oneof(
      fc.record({ op: fc.constant("add" as const), at: fc.nat(63), pages: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ op: fc.constant("move" as const), which: fc.nat(), at: fc.nat(63) }),
      fc.record({ op: fc.constant("remove" as const), which: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(arbCommand, { maxLength: 40 }), (commands) => {
        const machine = new Machine({ ramSize: 4 * MiB });
        const model = new Map<string, { base: number; size: number }>();
        const live: ReturnType<typeof machine.addressMap.addRegion>[] = [];
        const free = (base: number, size: number, except?: string) =>
          [...model].every(([name, r]) => name === except || base + size <= r.base || r.base + r.size <= base);
        let n = 0;
        for (const c of commands) {
          if (c.op === "add") {
            const base = window + c.at * slot;
            const size = c.pages * slot;
            const name = `r${n++}`;
            if (free(base, size)) {
              live.push(machine.addressMap.addRegion(base, size, { ...noRegisters, name }));
              model.set(name, { base, size });
            } else {
              expect(() => machine.addressMap.addRegion(base, size, { ...noRegisters, name })).toThrow(
                InvalidArgumentError,
              );
            }
          } else if (live.length > 0) {
            const region = live[c.which % live.length]!;
            if (c.op === "remove") {
              region.remove();
              live.splice(live.indexOf(region), 1);
              model.delete(region.name);
            } else {
              const base = window + c.at * slot;
              if (free(base, region.size, region.name)) {
                region.moveTo(base);
                model.set(region.name, { base, size: region.size });
              } else {
                expect(() => region.moveTo(base)).toThrow(InvalidArgumentError);
              }
            }
          }
        }
        const regions = machine.addressMap.regions().filter((r) => r.name !== "msi");
        expect(regions.map((r) => [r.name, r.base, r.size]).sort()).toEqual(
          [...model].map(([name, r]) => [name, r.base, r.size]).sort(),
        );
        for (let i = 1; i < regions.length; i++) expect(regions[i]!.base).toBeGreaterThanOrEqual(regions[i - 1]!.end);
        for (let page = 0; page < 68; page++) {
          const address = window + page * slot;
          const owner = [...model].find(([, r]) => address >= r.base && address < r.base + r.size);
          const backing = machine.memory.backing(address);
          expect(backing.kind === "registers" ? backing.region : undefined).toBe(owner?.[0]);
        }
      }),
      { numRuns: 150 },
    );
  });
});
