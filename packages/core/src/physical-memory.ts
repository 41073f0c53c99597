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
 *
 * An implementation may also offer the optional {@link DirectMemoryAccess} members (host views of whole pages, for
 * translation caches); they add speed, never behaviour.
 */
export interface PhysicalMemory extends DirectMemoryAccess {
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

/**
 * Where {@link PhysicalMemory.directView} says a page lives: `offset` is the byte offset, in the returned view, of
 * the first byte of the 4 KiB page. A reused out-object, so asking allocates nothing.
 */
export interface DirectViewSlot {
  offset: number;
}

/**
 * Optional fast-path capabilities of a {@link PhysicalMemory}, for translation caches that want to skip the bus on
 * a hit (as QEMU's softmmu TLB caches a host address per page). Both members are optional: a memory without them is
 * still a complete `PhysicalMemory`, and callers must work (more slowly) without them.
 */
export interface DirectMemoryAccess {
  /**
   * A host view of the 4 KiB page holding `address`, if that page is plain memory: RAM, or a RAM-like device region
   * that covers the whole page. On success returns a `DataView` and sets `slot.offset` so that bytes
   * `[slot.offset, slot.offset + 4096)` of the view ARE the page: reads through it see exactly what `read8` sees,
   * and writes through it are exactly `write8`s (little-endian multi-byte accesses included). Returns null (and
   * leaves `slot` unspecified) for register regions, holes, pages that straddle a region edge, and whenever the
   * memory prefers the checked path; with `forWrite` false it may also return null for RAM that was never written
   * (sparse memories need not allocate for a read), with `forWrite` true it allocates such RAM.
   *
   * The view stays valid until the next topology-change notification ({@link onTopologyChange}): a region added,
   * moved or removed, or RAM memory given back (a sparse chunk zeroed whole). After a notification every view
   * handed out must be dropped and asked for again. Never throws for a valid physical address; `address` must be
   * a valid physical address (callers pass translated frames).
   */
  directView?(address: PhysAddr, forWrite: boolean, slot: DirectViewSlot): DataView | null;
  /**
   * The view {@link directView} returns for most RAM pages, when the memory keeps that RAM in one host buffer (at
   * most 4 GiB long, so offsets in it fit in 32 bits). It never changes over the memory's life. A translation cache
   * that sees `directView` return this very object may keep only the offset (one 32-bit word per page) and read
   * through a view it holds in a field, which is how a hit approaches raw typed-array speed: no per-page view
   * reference to load. Absent when RAM is not in one buffer.
   */
  readonly linearView?: DataView;
  /**
   * Calls `listener` (synchronously, with no arguments) after every change that may make a view from
   * {@link directView} stale. Returns a function that unsubscribes. A memory that implements `directView` must
   * implement this too.
   */
  onTopologyChange?(listener: () => void): () => void;
}
