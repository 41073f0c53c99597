import type { PhysAddr } from "./address.js";

/** What answers at a physical address. */
export type MemoryBacking =
  | { readonly kind: "ram" }
  | { readonly kind: "device-ram"; readonly region: string; readonly base: PhysAddr; readonly size: number }
  | { readonly kind: "registers"; readonly region: string; readonly base: PhysAddr; readonly size: number }
  | { readonly kind: "none" };

/**
 * The physical address space as the CPU (and bus-mastering devices) see it: RAM, device windows and holes.
 * All values are little-endian. Multi-byte accesses may be unaligned and may cross chunk and region boundaries.
 *
 * On success an access reads or writes exactly the bytes named. Addresses and lengths must be integers with
 * `address + length <= 2^52`; anything else throws `InvalidArgumentError` and touches nothing. An access that hits
 * no RAM and no device reads all ones and drops writes, as real hardware does (a strict machine throws `BusError`).
 * Bulk operations on RAM and on RAM-like device memory run at typed-array speed.
 */
export interface PhysicalMemory {
  read8(address: PhysAddr): number;
  read16(address: PhysAddr): number;
  /** Unsigned 32-bit read. */
  read32(address: PhysAddr): number;
  read64(address: PhysAddr): bigint;
  write8(address: PhysAddr, value: number): void;
  write16(address: PhysAddr, value: number): void;
  write32(address: PhysAddr, value: number): void;
  write64(address: PhysAddr, value: bigint): void;
  /** Sets `length` bytes from `address` to `byte` (memset). */
  fill(address: PhysAddr, length: number, byte: number): void;
  /** Copies `length` bytes from `source` to `destination`; overlapping ranges behave like memmove. */
  copy(destination: PhysAddr, source: PhysAddr, length: number): void;
  /** Reads `into.length` bytes starting at `address` into `into`. */
  read(address: PhysAddr, into: Uint8Array): void;
  /** Writes all of `from` starting at `address`. */
  write(address: PhysAddr, from: Uint8Array): void;
  /** What backs `address`. */
  backing(address: PhysAddr): MemoryBacking;
}
