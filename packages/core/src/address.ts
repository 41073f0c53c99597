import { InvalidArgumentError } from "./errors.js";

/**
 * A physical address: an integer in [0, 2^52). Plain numbers keep hot paths free of BigInt; 52 bits is the
 * architectural limit of x86-64 and fits a double exactly.
 */
export type PhysAddr = number;

/**
 * A virtual address in its linear form. On x86-64 that is the low 48 bits of the canonical address, so the higher
 * half `0xFFFF_8000_0000_0000` is the number `0x8000_0000_0000`. Use {@link canonicalToLinear48} and
 * {@link formatCanonical48} at the edges.
 */
export type VirtAddr = number;

export const PAGE_SHIFT = 12;
/** 4 KiB, the base page and frame size. */
export const PAGE_SIZE = 0x1000;
export const PAGE_OFFSET_MASK = 0xfff;
/** 2 MiB large page. */
export const PAGE_SIZE_LARGE = 0x20_0000;
/** 1 GiB huge page. */
export const PAGE_SIZE_HUGE = 0x4000_0000;

/** Physical addresses are below 2^52 (MAXPHYADDR can be at most 52 on x86-64). */
export const PHYS_ADDRESS_BITS = 52;
export const PHYS_ADDRESS_LIMIT = 2 ** PHYS_ADDRESS_BITS;

/** x86-64 4-level paging: 48-bit linear addresses. */
export const LINEAR_BITS_48 = 48;
export const LINEAR_LIMIT_48 = 2 ** LINEAR_BITS_48;
/** Linear addresses at or above this are the higher half (their canonical form has bits 63..48 set). */
export const HIGHER_HALF_48 = 2 ** 47;

const CANONICAL_HIGH_MASK = 0xffff_0000_0000_0000n;
const LOW48_MASK = 0xffff_ffff_ffffn;

/** True when `value` is a canonical 64-bit x86-64 address: bits 63..47 all equal (bit 47 included). */
export function isCanonical48(value: bigint): boolean {
  const top = value >> 47n;
  return top === 0n || top === 0x1_ffffn;
}

/**
 * Converts a canonical 64-bit virtual address (as bigint, e.g. `0xFFFFFF8000000000n`) to its 48-bit linear number.
 * A number is taken to be linear already and checked to be below 2^48.
 * @throws InvalidArgumentError for a non-canonical address or an out-of-range number.
 */
export function canonicalToLinear48(address: bigint | number, argument = "address"): VirtAddr {
  if (typeof address === "number") {
    if (!Number.isInteger(address) || address < 0 || address >= LINEAR_LIMIT_48) {
      throw new InvalidArgumentError(argument, address, "not a 48-bit linear address (an integer in [0, 2^48))");
    }
    return address;
  }
  if (address < 0n || address > 0xffff_ffff_ffff_ffffn) {
    throw new InvalidArgumentError(argument, address, "not a 64-bit address");
  }
  if (!isCanonical48(address)) {
    throw new InvalidArgumentError(argument, address, "non-canonical: bits 63..47 must all be equal");
  }
  return Number(address & LOW48_MASK);
}

/** The canonical 64-bit form of a 48-bit linear address (sign-extends bit 47). */
export function linear48ToCanonical(linear: VirtAddr): bigint {
  const value = BigInt(linear);
  return linear >= HIGHER_HALF_48 ? value | CANONICAL_HIGH_MASK : value;
}

/** Hex with a `0x` prefix, upper case, zero-padded to `digits` (the kernel's `%0NllX`). */
export function formatHex(value: number | bigint, digits = 0): string {
  return `0x${value.toString(16).toUpperCase().padStart(digits, "0")}`;
}

/** Prints a 48-bit linear address in its canonical 64-bit form, as the kernel would: `0xFFFFFF8000000000`. */
export function formatCanonical48(linear: VirtAddr): string {
  return formatHex(linear48ToCanonical(linear), 16);
}

/** Prints a physical address as 16 hex digits. */
export function formatPhys(address: PhysAddr): string {
  return formatHex(address, 16);
}

/** Offset of an address within its 4 KiB page. Correct for any integer below 2^53 (ToInt32 keeps low bits). */
export function pageOffset(address: number): number {
  return address & PAGE_OFFSET_MASK;
}

/** Rounds down to a multiple of `alignment` (a power of two). Safe above 2^32, unlike `& ~mask`. */
export function alignDown(value: number, alignment: number): number {
  return value - (value % alignment);
}

/** Rounds up to a multiple of `alignment` (a power of two); an aligned value stays as it is. */
export function alignUp(value: number, alignment: number): number {
  const rest = value % alignment;
  return rest === 0 ? value : value + (alignment - rest);
}

/** True when `value` is a positive power of two. */
export function isPowerOfTwo(value: number): boolean {
  return Number.isInteger(value) && value > 0 && 2 ** Math.round(Math.log2(value)) === value;
}
