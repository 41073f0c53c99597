import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  alignDown,
  alignUp,
  canonicalToLinear48,
  formatCanonical48,
  InvalidArgumentError,
  isCanonical48,
  isPowerOfTwo,
  LINEAR_LIMIT_48,
  linear48ToCanonical,
  pageOffset,
} from "./index.js";

describe("x86-64 canonical addresses", () => {
  it("maps the higher half to the 48-bit linear form and back", () => {
    expect(canonicalToLinear48(0xffff_ff80_0000_0000n)).toBe(0xff80_0000_0000);
    expect(canonicalToLinear48(0xffff_8000_0000_0000n)).toBe(0x8000_0000_0000);
    expect(linear48ToCanonical(0x8000_0000_0000)).toBe(0xffff_8000_0000_0000n);
    expect(formatCanonical48(0xff80_0000_0000)).toBe("0xFFFFFF8000000000");
    expect(formatCanonical48(0x1000)).toBe("0x0000000000001000");
  });

  it("rejects non-canonical addresses, including those that differ only in bit 47", () => {
    expect(isCanonical48(0x0000_8000_0000_0000n)).toBe(false);
    expect(isCanonical48(0xffff_7fff_ffff_ffffn)).toBe(false);
    expect(() => canonicalToLinear48(0x0000_8000_0000_0000n)).toThrow(InvalidArgumentError);
    expect(() => canonicalToLinear48(0x1234_0000_0000_0000n)).toThrow(/non-canonical/);
  });

  it("rejects numbers that are not 48-bit linear addresses", () => {
    for (const bad of [Number.NaN, -1, 1.5, LINEAR_LIMIT_48]) {
      expect(() => canonicalToLinear48(bad, "virt")).toThrow(/^virt = /);
    }
  });

  it("round-trips every linear address", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: LINEAR_LIMIT_48 - 1 }), (linear) => {
        const canonical = linear48ToCanonical(linear);
        expect(isCanonical48(canonical)).toBe(true);
        expect(canonicalToLinear48(canonical)).toBe(linear);
      }),
    );
  });
});

describe("alignment helpers", () => {
  it("work above 2^32, where bitwise masks would truncate", () => {
    const big = 0x12_3456_7890;
    expect(alignDown(big, 0x1000)).toBe(0x12_3456_7000);
    expect(alignUp(big, 0x1000)).toBe(0x12_3456_8000);
    expect(alignUp(0x12_3456_7000, 0x1000)).toBe(0x12_3456_7000);
    expect(pageOffset(big)).toBe(0x890);
  });

  it("agree with BigInt arithmetic", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 52 }), fc.integer({ min: 0, max: 30 }), (value, shift) => {
        const alignment = 2 ** shift;
        const a = BigInt(alignment);
        const v = BigInt(value);
        expect(BigInt(alignDown(value, alignment))).toBe((v / a) * a);
        expect(BigInt(alignUp(value, alignment))).toBe(((v + a - 1n) / a) * a);
      }),
    );
  });

  it("recognise powers of two", () => {
    expect([1, 2, 4096, 2 ** 40].every(isPowerOfTwo)).toBe(true);
    expect([0, -2, 3, 4095, 1.5, Number.NaN].some(isPowerOfTwo)).toBe(false);
  });
});
