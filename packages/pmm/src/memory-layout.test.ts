import { InvalidArgumentError, MemoryRegionType } from "@ksim/core";
import { describe, expect, it } from "vitest";
import { computeUsableLayout } from "./memory-layout.js";

const { Usable, Reserved, AcpiNvs } = MemoryRegionType;
const MiB = 0x10_0000;

describe("computeUsableLayout", () => {
  it("never includes the first MiB, shrinks usable entries to whole frames and merges adjacent ones", () => {
    const l = computeUsableLayout([
      { base: 0, length: 2 * MiB + 0x800, type: Usable },
      { base: 2 * MiB + 0x800, length: MiB, type: Usable },
      { base: 4 * MiB + 0x10, length: MiB, type: Usable },
    ]);
    // The frame at 2 MiB is split between two usable entries: usable all the same.
    expect([...l.starts]).toEqual([256, 1025]);
    expect([...l.ends]).toEqual([768, 1280]);
    expect(l.usableFrames).toBe(512 + 255);
  });

  it("lets a reserved entry win over an overlapping usable one, taking every frame it touches", () => {
    const l = computeUsableLayout([
      { base: MiB, length: 8 * MiB, type: Usable },
      { base: 4 * MiB + 0x10, length: 0x20, type: AcpiNvs },
      { base: 6 * MiB, length: 16 * MiB, type: Reserved },
    ]);
    expect([...l.starts]).toEqual([256, 1025]);
    expect([...l.ends]).toEqual([1024, 1536]);
    expect(l.frameLimit).toBe(1536);
  });

  it("rejects malformed entries and RAM above 4 TiB", () => {
    expect(() => computeUsableLayout([{ base: Number.NaN, length: 1, type: Usable }])).toThrow(InvalidArgumentError);
    expect(() => computeUsableLayout([{ base: 0, length: -1, type: Usable }])).toThrow(InvalidArgumentError);
    expect(() => computeUsableLayout([{ base: 2 ** 42, length: 4096, type: Usable }])).toThrow(/4 TiB/);
    expect(() => computeUsableLayout("x" as never)).toThrow(InvalidArgumentError);
  });
});
