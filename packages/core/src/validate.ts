import { PHYS_ADDRESS_LIMIT } from "./address.js";
import { InvalidArgumentError } from "./errors.js";

// Checks for the edges of public APIs: validate once where a value enters, then trust it inside.

/** Throws unless `value` is an integer in [min, max]. */
export function checkInteger(argument: string, value: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new InvalidArgumentError(argument, value, "not a number");
  }
  if (!Number.isInteger(value)) throw new InvalidArgumentError(argument, value, "not an integer");
  if (value < min) {
    throw new InvalidArgumentError(argument, value, min === 0 ? "negative" : `below the minimum ${min}`);
  }
  if (value > max) throw new InvalidArgumentError(argument, value, `above the maximum ${max}`);
  return value;
}

/** Throws unless `value` is a physical address: an integer in [0, 2^52). */
export function checkPhysAddr(argument: string, value: number): number {
  return checkInteger(argument, value, 0, PHYS_ADDRESS_LIMIT - 1);
}

/** Throws unless `value` is a size: a positive integer (or zero when `allowZero`). */
export function checkSize(argument: string, value: number, allowZero = false): number {
  checkInteger(argument, value, 0);
  if (value === 0 && !allowZero) throw new InvalidArgumentError(argument, value, "size must be at least 1");
  return value;
}

/** Throws unless `value` is a multiple of `alignment`. */
export function checkAligned(argument: string, value: number, alignment: number): number {
  if (value % alignment !== 0) {
    throw new InvalidArgumentError(argument, value, `not aligned to 0x${alignment.toString(16)}`);
  }
  return value;
}

/** Throws unless `flags` sets only bits in `allowed`. */
export function checkFlags(argument: string, flags: number, allowed: number): number {
  checkInteger(argument, flags, 0, 0xffff_ffff);
  const unknown = flags & ~allowed;
  if (unknown !== 0) {
    throw new InvalidArgumentError(argument, flags, `unknown flag bits 0x${(unknown >>> 0).toString(16)}`);
  }
  return flags;
}
