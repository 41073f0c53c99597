import {
  checkInteger,
  checkPhysAddr,
  checkSize,
  type FirmwareMemoryMap,
  type FrameAllocation,
  type FrameAllocator,
  FrameError,
  type FrameProblem,
  type FrameRequest,
  type FrameStats,
  formatHex,
  InvalidArgumentError,
  isPowerOfTwo,
  type MemoryMapEntry,
  memoryRegionTypeName,
  PAGE_SIZE,
  PHYS_ADDRESS_LIMIT,
  type PhysAddr,
} from "@ksim/core";
import { BuddyLists } from "./buddy-lists.js";
import { FrameTable, REF_MASK, REF_OVERFLOW, RESERVED, RUN_START, USED_BEFORE } from "./frame-table.js";
import { computeUsableLayout, rangeIndexOf, type UsableLayout } from "./memory-layout.js";
import { ZONE_COUNT, ZONE_NAMES, type ZoneName, zoneEnd, zoneStart } from "./zones.js";

/** Options of {@link BuddyAllocator}. */
export interface BuddyAllocatorOptions {
  /**
   * How many free order-0 frames a LIFO cache in front of the buddy lists may hold (Linux's per-CPU page lists):
   * single-frame allocations and frees then cost a push or a pop, and coalescing happens in batches. Default 64;
   * 0 turns the cache off. Cached frames count as free; a constrained or contiguous request that cannot be met
   * otherwise drains the cache and retries.
   */
  readonly frameCache?: number;
  /**
   * The largest block order (a block of order k is 2^k frames). Default: the smallest order that covers the whole
   * machine, so a contiguous run can be as large as the largest naturally aligned stretch of free RAM. At most 30.
   */
  readonly maxOrder?: number;
}

/** The largest order accepted: 2^30 frames = 4 TiB. */
export const MAX_ORDER_LIMIT = 30;
const DEFAULT_FRAME_CACHE = 64;

// Indices into the counters array (kept in a typed array so a metadata snapshot covers them).
const C_ALLOCATED = 0; // frames with a reference count
const C_RESERVED = 1; // frames taken out by reserve()
const C_CACHED = 2; // free frames sitting in the frame cache

/** A copy of every piece of allocator metadata; two snapshots are equal exactly when the states are. */
export interface BuddySnapshot {
  readonly bitmaps: readonly Int32Array[];
  readonly zoneBlocks: Int32Array;
  /** The buddy lists' free-frame count. */
  readonly listCounters: Float64Array;
  /** Allocated, reserved and cached frame counts. */
  readonly counters: Float64Array;
  readonly cache: Uint32Array;
  readonly sections: readonly (Uint16Array | undefined)[];
  readonly overflow: readonly [number, number][];
}

/** Free blocks per order in one zone, as /proc/buddyinfo prints them. */
export interface ZoneBuddyInfo {
  readonly zone: ZoneName;
  /** `freeBlocks[k]` is the number of free blocks of 2^k frames. */
  readonly freeBlocks: readonly number[];
}

/** The state of one stretch of usable RAM, for the memory-map dump. */
export interface ManagedRegion {
  readonly base: PhysAddr;
  readonly end: PhysAddr;
  readonly frames: number;
  readonly free: number;
  readonly allocated: number;
  readonly reserved: number;
}

/**
 * A binary buddy allocator over a firmware memory map, with all metadata in typed arrays.
 *
 * Free memory is a set of naturally aligned blocks of 2^k frames. Each order k has a {@link LevelBitmap} with one
 * bit per possible block: set means "this block is free, whole, and not part of a larger free block". So:
 * - allocation takes the smallest order that has a block (per-zone counts say which, in O(1)), finds its highest
 *   free block with one O(log32 n) search, splits it down and marks the run; a run of n frames (any n) takes a
 *   block of the next power of two (or of the alignment, if larger) and gives the unused tail straight back;
 * - freeing looks at the buddy's bit in the same order and merges while it is free: O(max order);
 * - a physical limit is a bound on the same search ("highest free block below this index"), so DMA32 and ISA
 *   requests never scan; zones (DMA, DMA32, Normal) are only counters over the one set of bitmaps.
 *
 * Per-frame state (reference counts, run starts, reservations) lives in a {@link FrameTable} whose 128 MiB
 * sections exist only once touched, so a fresh 1 TiB machine costs its bitmaps (1 bit per frame and order: about
 * 64 MiB) and nothing per frame.
 *
 * `free(address, count)` takes back any sub-range of one allocated run (the whole run, its head, its tail or its
 * middle); the rest stays allocated as its own run. Frames are handed out highest address first within a zone.
 */
export class BuddyAllocator implements FrameAllocator {
  /** 4096: every address this allocator hands out or takes back is a multiple of it. */
  readonly frameSize = PAGE_SIZE;
  /** The largest block order. */
  readonly maxOrder: number;
  /** One past the highest usable frame number. */
  readonly frameLimit: number;
  /** Capacity of the order-0 frame cache. */
  readonly frameCacheSize: number;
  /** The memory map this allocator was built from. */
  readonly memoryMap: readonly MemoryMapEntry[];

  private readonly layout: UsableLayout;
  private readonly lists: BuddyLists;
  private readonly counters = new Float64Array(3);
  private readonly cache: Uint32Array;
  private readonly table: FrameTable;

  /**
   * Builds the allocator: only `Usable` entries, shrunk to whole frames, minus every other entry and the first MiB,
   * are ever handed out.
   * @throws InvalidArgumentError for a malformed map or options, or usable RAM above 4 TiB.
   */
  constructor(memoryMap: FirmwareMemoryMap, options: BuddyAllocatorOptions = {}) {
    this.layout = computeUsableLayout(memoryMap);
    this.memoryMap = memoryMap.map((e) => ({ base: e.base, length: e.length, type: e.type }));
    this.frameLimit = this.layout.frameLimit;
    const fitting = this.frameLimit <= 1 ? 0 : Math.min(MAX_ORDER_LIMIT, Math.ceil(Math.log2(this.frameLimit)));
    this.maxOrder =
      options.maxOrder === undefined ? fitting : checkInteger("options.maxOrder", options.maxOrder, 0, MAX_ORDER_LIMIT);
    this.frameCacheSize = checkInteger("options.frameCache", options.frameCache ?? DEFAULT_FRAME_CACHE, 0, 1 << 20);
    this.cache = new Uint32Array(this.frameCacheSize);
    this.lists = new BuddyLists(this.frameLimit, this.maxOrder);
    this.table = new FrameTable(this.frameLimit);
    const { starts, ends } = this.layout;
    for (let r = 0; r < starts.length; r++) this.lists.insertRange(starts[r]!, ends[r]!);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // FrameAllocator

  /** Allocates one frame: its physical address, or 0 when no frame is free (nothing changes then). */
  allocFrame(): PhysAddr {
    const counters = this.counters;
    let n = counters[C_CACHED]!;
    if (n === 0) {
      if (this.frameCacheSize === 0) {
        const f = this.lists.takeRun(1, 0, this.frameLimit);
        if (f < 0) return 0;
        this.markAllocated(f, 1);
        return f * PAGE_SIZE;
      }
      n = this.refillCache();
      if (n === 0) return 0;
    }
    n--;
    counters[C_CACHED] = n;
    const f = this.cache[n]!;
    this.table.set(f, 1 | RUN_START | USED_BEFORE);
    counters[C_ALLOCATED]!++;
    return f * PAGE_SIZE;
  }

  /**
   * Allocates `count` physically contiguous frames whose first address is a multiple of `align` and whose end is at
   * or below `limit`. Failure is a value and changes nothing: `out-of-memory` when fewer than `count` frames are
   * free, `no-fit` when no free run meets the constraints.
   * @throws InvalidArgumentError when count is not a positive integer, align not a power of two, limit not an
   *   integer in [0, 2^52] (nothing changes).
   */
  allocate(request: FrameRequest = {}): FrameAllocation {
    if (typeof request !== "object" || request === null) {
      throw new InvalidArgumentError("request", request, "not a request object");
    }
    const count = request.count === undefined ? 1 : checkSize("count", request.count);
    const align = request.align === undefined ? PAGE_SIZE : checkInteger("align", request.align, 1);
    if (!isPowerOfTwo(align)) throw new InvalidArgumentError("align", align, "not a power of two");
    const limit = request.limit === undefined ? PHYS_ADDRESS_LIMIT : request.limit;
    checkInteger("limit", limit, 0, PHYS_ADDRESS_LIMIT);

    const free = this.lists.freeFrames + this.counters[C_CACHED]!;
    if (count > free) {
      return {
        ok: false,
        reason: "out-of-memory",
        message: `out of memory: ${count} frame(s) requested, ${free} free`,
      };
    }
    const alignFrames = Math.max(1, align / PAGE_SIZE);
    const order = Math.max(ceilLog2(count), Math.log2(alignFrames));
    const limitFrame = Math.min(this.frameLimit, Math.floor(limit / PAGE_SIZE));
    const noFit = (): FrameAllocation => ({
      ok: false,
      reason: "no-fit",
      message: `no free run of ${count} frame(s) aligned to ${formatHex(align)} ending at or below ${formatHex(limit)}`,
    });
    if (count > limitFrame) return noFit();
    if (count === 1 && alignFrames === 1 && limitFrame === this.frameLimit && this.counters[C_CACHED]! > 0) {
      return { ok: true, address: this.allocFrame(), count: 1 };
    }
    let f = this.takeAny(count, order, alignFrames, limitFrame);
    if (f < 0 && this.counters[C_CACHED]! > 0) f = this.takeAfterDrain(count, order, alignFrames, limitFrame);
    if (f < 0) return noFit();
    this.markAllocated(f, count);
    return { ok: true, address: f * PAGE_SIZE, count };
  }

  /**
   * Frees `count` frames from `address`: any sub-range of one allocated run, each frame held once (refcount 1).
   * What remains of the run stays allocated. A single frame goes to the frame cache; a run is coalesced at once.
   * @throws InvalidArgumentError for a non-integer, negative or NaN address or count, or count 0.
   * @throws FrameError naming the first offending frame: misaligned, out-of-range, not-usable-ram, reserved,
   *   not-allocated (never handed out), double-free, shared (refcount above 1), count-mismatch (the range runs
   *   into another allocation). Nothing changes when it throws.
   */
  free(address: PhysAddr, count = 1): void {
    // Fast path: a frame-aligned in-range address holding exactly one reference.
    if (count === 1 && typeof address === "number") {
      const f = address / PAGE_SIZE;
      if (f >>> 0 === f && f < this.frameLimit && (this.table.get(f) & REF_MASK) === 1) {
        this.freeFrames(f, 1);
        return;
      }
    }
    const f = this.checkRun(address, count);
    this.checkHeldOnce(f, count, address);
    this.freeFrames(f, count);
  }

  /**
   * Takes [base, base + size) out of circulation; the range is widened to whole frames. Every frame must be usable
   * RAM, free and not already reserved.
   * @throws InvalidArgumentError for a bad base or size; FrameError (not-usable-ram, out-of-range, in-use, reserved)
   *   naming the first offending frame. Nothing changes when it throws.
   */
  reserve(base: PhysAddr, size: number): void {
    const [start, end] = this.checkRange(base, size);
    const bad = this.table.findNonZero(start, end, REF_MASK | RESERVED);
    if (bad >= 0) {
      const v = this.table.get(bad);
      throw (v & RESERVED) !== 0
        ? new FrameError(bad * PAGE_SIZE, "reserved", "is already reserved")
        : new FrameError(bad * PAGE_SIZE, "in-use", "is allocated, so it cannot be reserved");
    }
    this.uncacheRange(start, end);
    this.lists.carve(start, end);
    this.table.fill(start, end, RESERVED);
    this.counters[C_RESERVED]! += end - start;
  }

  /**
   * Returns a reserved range to the free pool (widened to whole frames, as {@link reserve} does).
   * @throws InvalidArgumentError for a bad base or size; FrameError (not-usable-ram, out-of-range, not-reserved)
   *   naming the first frame that is not reserved. Nothing changes when it throws.
   */
  unreserve(base: PhysAddr, size: number): void {
    const [start, end] = this.checkRange(base, size);
    const bad = this.table.findZero(start, end, RESERVED);
    if (bad >= 0) throw new FrameError(bad * PAGE_SIZE, "not-reserved", "is not reserved");
    this.table.fill(start, end, 0);
    this.counters[C_RESERVED]! -= end - start;
    this.lists.freeRange(start, end);
  }

  /**
   * The boot-time view of `pmm_initializeRegion` / `pmm_deinitializeRegion`: makes every usable frame of
   * [base, base + size) (whole frames only, no widening) available (`true`: reserved frames are unreserved) or
   * unavailable (`false`: free frames are reserved). Frames already in the wanted state and frames that are not
   * usable RAM are skipped.
   * @throws InvalidArgumentError for a bad base or size; FrameError (in-use) naming the first allocated frame of the
   *   range. Nothing changes when it throws.
   */
  setRegionAvailable(base: PhysAddr, size: number, available: boolean): void {
    checkPhysAddr("base", base);
    checkInteger("size", size, 0);
    if (base % PAGE_SIZE !== 0) throw misaligned(base);
    if (size % PAGE_SIZE !== 0) throw new InvalidArgumentError("size", size, "not a multiple of the 4 KiB frame size");
    const start = base / PAGE_SIZE;
    const end = Math.min(this.frameLimit, start + size / PAGE_SIZE);
    const { starts, ends } = this.layout;
    for (let r = 0; r < starts.length; r++) {
      const busy = this.table.findNonZero(Math.max(start, starts[r]!), Math.min(end, ends[r]!), REF_MASK);
      if (busy >= 0) throw new FrameError(busy * PAGE_SIZE, "in-use", "is allocated, so its region cannot change");
    }
    for (let r = 0; r < starts.length; r++) {
      const a = Math.max(start, starts[r]!);
      const b = Math.min(end, ends[r]!);
      let p = a;
      while (p < b) {
        const g = this.table.findNonZero(p, b, RESERVED);
        const runStart = g < 0 ? b : g;
        if (!available && runStart > p) this.reserve(p * PAGE_SIZE, (runStart - p) * PAGE_SIZE);
        if (g < 0) break;
        const h = this.table.findZero(g, b, RESERVED);
        const runEnd = h < 0 ? b : h;
        if (available) this.unreserve(g * PAGE_SIZE, (runEnd - g) * PAGE_SIZE);
        p = runEnd;
      }
    }
  }

  /**
   * Adds a reference to an allocated frame; returns the new count.
   * @throws InvalidArgumentError / FrameError (misaligned, out-of-range, not-usable-ram, not-allocated, reserved).
   */
  retain(address: PhysAddr): number {
    const f = this.checkRun(address, 1);
    const v = this.table.get(f);
    const ref = v & REF_MASK;
    if (ref === 0) {
      throw (v & RESERVED) !== 0
        ? this.unallocatedError(f, v)
        : new FrameError(f * PAGE_SIZE, "not-allocated", "is free: only an allocated frame can be retained");
    }
    if (ref === REF_OVERFLOW) {
      const n = this.table.overflow.get(f)! + 1;
      this.table.overflow.set(f, n);
      return n;
    }
    this.table.set(f, v + 1);
    if (ref + 1 === REF_OVERFLOW) this.table.overflow.set(f, REF_OVERFLOW);
    return ref + 1;
  }

  /**
   * Drops a reference; at 0 the frame is freed (and, if it was part of a run, the rest of the run stays allocated).
   * Returns the new count.
   * @throws InvalidArgumentError / FrameError as {@link retain}.
   */
  release(address: PhysAddr): number {
    const f = this.checkRun(address, 1);
    const v = this.table.get(f);
    const ref = v & REF_MASK;
    if (ref === 0) throw this.unallocatedError(f, v);
    if (ref === 1) {
      this.freeFrames(f, 1);
      return 0;
    }
    if (ref === REF_OVERFLOW) {
      const n = this.table.overflow.get(f)! - 1;
      if (n >= REF_OVERFLOW) {
        this.table.overflow.set(f, n);
        return n;
      }
      this.table.overflow.delete(f);
    }
    this.table.set(f, v - 1);
    return ref - 1;
  }

  /**
   * The reference count of the frame at `address`: 0 when it is free, reserved or not managed.
   * @throws InvalidArgumentError for a value that is not a physical address; FrameError if it is misaligned.
   */
  refCount(address: PhysAddr): number {
    checkPhysAddr("address", address);
    if (address % PAGE_SIZE !== 0) throw misaligned(address);
    const f = address / PAGE_SIZE;
    if (f >= this.frameLimit) return 0;
    const ref = this.table.get(f) & REF_MASK;
    return ref === REF_OVERFLOW ? this.table.overflow.get(f)! : ref;
  }

  /**
   * True when the frame holding `address` is usable RAM managed here (free, allocated or reserved by `reserve`).
   * @throws InvalidArgumentError for a value that is not a physical address.
   */
  isManaged(address: PhysAddr): boolean {
    checkPhysAddr("address", address);
    return rangeIndexOf(this.layout, Math.floor(address / PAGE_SIZE)) >= 0;
  }

  /** Frame counts; `usableFrames = freeFrames + usedFrames`, and `usedFrames` includes `reservedFrames`. */
  stats(): FrameStats {
    const c = this.counters;
    return {
      frameSize: PAGE_SIZE,
      totalFrames: this.frameLimit,
      usableFrames: this.layout.usableFrames,
      freeFrames: this.lists.freeFrames + c[C_CACHED]!,
      usedFrames: c[C_ALLOCATED]! + c[C_RESERVED]!,
      reservedFrames: c[C_RESERVED]!,
    };
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Introspection

  /** Frames currently allocated (reference count at least 1), not counting reserved ones. */
  get allocatedFrames(): number {
    return this.counters[C_ALLOCATED]!;
  }

  /** Free frames sitting in the order-0 frame cache (they are free, but not in the buddy lists). */
  get cachedFrames(): number {
    return this.counters[C_CACHED]!;
  }

  /** Returns every cached frame to the buddy lists, coalescing them (Linux's drain_all_pages). */
  drainFrameCache(): void {
    this.drainCache(this.counters[C_CACHED]!);
  }

  /** Free blocks per order in each populated zone, like /proc/buddyinfo (cached frames are not counted there). */
  buddyInfo(): ZoneBuddyInfo[] {
    const orders = this.maxOrder + 1;
    const out: ZoneBuddyInfo[] = [];
    for (let z = 0; z < ZONE_COUNT; z++) {
      const zs = zoneStart(z);
      const ze = Math.min(zoneEnd(z), this.frameLimit);
      if (!this.hasUsable(zs, ze)) continue;
      out.push({
        zone: ZONE_NAMES[z]!,
        freeBlocks: Array.from(this.lists.zoneBlocks.subarray(z * orders, (z + 1) * orders)),
      });
    }
    return out;
  }

  /** /proc/buddyinfo's text: `Node 0, zone   Normal      1      0 ...`, one line per populated zone. */
  formatBuddyInfo(): string {
    return this.buddyInfo()
      .map((z) => `Node 0, zone ${z.zone.padStart(8)} ${z.freeBlocks.map((n) => String(n).padStart(6)).join(" ")}`)
      .join("\n");
  }

  /** Each stretch of usable RAM with its free, allocated and reserved frame counts. Costs O(free blocks). */
  regions(): ManagedRegion[] {
    const { starts, ends } = this.layout;
    const out: ManagedRegion[] = [];
    for (let r = 0; r < starts.length; r++) {
      const s = starts[r]!;
      const e = ends[r]!;
      out.push({
        base: s * PAGE_SIZE,
        end: e * PAGE_SIZE,
        frames: e - s,
        free: this.countFree(s, e),
        allocated: this.table.count(s, e, REF_MASK),
        reserved: this.table.count(s, e, RESERVED),
      });
    }
    return out;
  }

  /** A readable dump: the firmware map (as Linux prints e820), usable RAM with its use, buddyinfo and totals. */
  dump(): string {
    const hex = (a: number) => formatHex(a, 16);
    const lines: string[] = ["firmware memory map:"];
    for (const e of this.memoryMap) {
      lines.push(`  [mem ${hex(e.base)}-${hex(e.base + e.length - 1)}] ${memoryRegionTypeName(e.type)}`);
    }
    lines.push("managed RAM (first MiB and non-usable entries excluded):");
    for (const r of this.regions()) {
      lines.push(
        `  [mem ${hex(r.base)}-${hex(r.end - 1)}] ${r.frames} frames: ${r.free} free, ${r.allocated} allocated, ` +
          `${r.reserved} reserved`,
      );
    }
    lines.push(
      `buddy lists (max order ${this.maxOrder}, ${formatBytes(2 ** this.maxOrder * PAGE_SIZE)} blocks; ` +
        `${this.cachedFrames} frame(s) in the frame cache):`,
    );
    for (const line of this.formatBuddyInfo().split("\n")) if (line !== "") lines.push(`  ${line}`);
    const s = this.stats();
    lines.push(
      `frames: ${s.totalFrames} total, ${s.usableFrames} usable, ${s.freeFrames} free, ${s.usedFrames} used ` +
        `(${s.reservedFrames} reserved); ${formatBytes(s.freeFrames * PAGE_SIZE)} free of ` +
        `${formatBytes(s.usableFrames * PAGE_SIZE)}`,
    );
    return lines.join("\n");
  }

  /** Bytes of typed-array metadata held now (bitmaps, counters, cache and the frame-table sections created). */
  metadataBytes(): number {
    return this.lists.byteLength + this.counters.byteLength + this.cache.byteLength + this.table.byteLength;
  }

  /** A deep copy of all metadata, for tests that prove a failed call changed nothing. */
  snapshot(): BuddySnapshot {
    const t = this.table.copy();
    return {
      bitmaps: this.lists.bitmaps.map((b) => b.words.slice()),
      zoneBlocks: this.lists.zoneBlocks.slice(),
      listCounters: this.lists.counters.slice(),
      counters: this.counters.slice(),
      cache: this.cache.slice(),
      sections: t.sections,
      overflow: t.overflow,
    };
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Validation

  /** Checks a run for free/retain/release; returns its first frame. Throws for anything outside usable RAM. */
  private checkRun(address: PhysAddr, count: number): number {
    checkPhysAddr("address", address);
    checkSize("count", count);
    if (address % PAGE_SIZE !== 0) throw misaligned(address);
    const f = address / PAGE_SIZE;
    this.checkManaged(f, f + count);
    return f;
  }

  /** Checks a byte range for reserve/unreserve; returns it widened to frames [start, end). */
  private checkRange(base: PhysAddr, size: number): [number, number] {
    checkPhysAddr("base", base);
    checkSize("size", size);
    if (base + size > PHYS_ADDRESS_LIMIT) {
      throw new InvalidArgumentError("size", size, "the range ends above the 52-bit physical address space");
    }
    const start = Math.floor(base / PAGE_SIZE);
    const end = Math.ceil((base + size) / PAGE_SIZE);
    this.checkManaged(start, end);
    return [start, end];
  }

  /** Throws unless every frame of [start, end) is managed usable RAM. */
  private checkManaged(start: number, end: number): void {
    if (start >= this.frameLimit) {
      throw new FrameError(
        start * PAGE_SIZE,
        "out-of-range",
        `lies above the highest usable frame (${formatHex((this.frameLimit - 1) * PAGE_SIZE)})`,
      );
    }
    const r = rangeIndexOf(this.layout, start);
    if (r < 0) throw new FrameError(start * PAGE_SIZE, "not-usable-ram", "is not usable RAM managed by this allocator");
    const rangeEnd = this.layout.ends[r]!;
    if (end > rangeEnd) {
      throw rangeEnd >= this.frameLimit
        ? new FrameError(rangeEnd * PAGE_SIZE, "out-of-range", "lies above the highest usable frame")
        : new FrameError(rangeEnd * PAGE_SIZE, "not-usable-ram", "is not usable RAM managed by this allocator");
    }
  }

  /**
   * Throws unless every frame of [f, f + count) holds exactly one reference and none after the first starts another
   * run, naming the first frame that breaks it.
   */
  private checkHeldOnce(f: number, count: number, address: number): void {
    const bad =
      (this.table.get(f) & REF_MASK) !== 1 ? f : this.table.findMismatch(f + 1, f + count, REF_MASK | RUN_START, 1);
    if (bad < 0) return;
    const v = this.table.get(bad);
    const ref = v & REF_MASK;
    if (ref === 0) throw this.unallocatedError(bad, v);
    if (ref !== 1) {
      throw new FrameError(
        bad * PAGE_SIZE,
        "shared",
        "is shared (refcount above 1): release() the other references first",
      );
    }
    throw new FrameError(
      bad * PAGE_SIZE,
      "count-mismatch",
      `starts another allocation: free(${formatHex(address)}, ${count}) spans more than one run`,
    );
  }

  /** The error for a frame with no reference: reserved, freed before (double free), or never allocated. */
  private unallocatedError(f: number, v: number): FrameError {
    const problem: FrameProblem =
      (v & RESERVED) !== 0 ? "reserved" : (v & USED_BEFORE) !== 0 ? "double-free" : "not-allocated";
    const detail =
      problem === "reserved"
        ? "is reserved, not allocated"
        : problem === "double-free"
          ? "double free: the frame is already free"
          : "was never allocated";
    return new FrameError(f * PAGE_SIZE, problem, detail);
  }

  /** The buddy path for a run that fits one block, else the slow stretch search; -1 (nothing changed) if neither. */
  private takeAny(count: number, order: number, alignFrames: number, limitFrame: number): number {
    const f = order <= this.maxOrder ? this.lists.takeRun(count, order, limitFrame) : -1;
    return f >= 0 ? f : this.lists.takeStretch(count, alignFrames, limitFrame);
  }

  /** Drains the frame cache and retries; if that fails too, puts every cached frame back exactly as it was. */
  private takeAfterDrain(count: number, order: number, alignFrames: number, limitFrame: number): number {
    const n = this.counters[C_CACHED]!;
    const saved = this.cache.slice(0, n);
    this.drainCache(n);
    const f = this.takeAny(count, order, alignFrames, limitFrame);
    if (f >= 0) return f;
    // The buddy lists are canonical for a given set of free frames, so carving the same frames out again restores
    // them bit for bit.
    for (const g of saved) this.lists.carve(g, g + 1);
    this.cache.set(saved);
    this.counters[C_CACHED] = n;
    return -1;
  }

  /** Marks [f, f + count) as one allocated run with a reference count of 1. */
  private markAllocated(f: number, count: number): void {
    this.table.fill(f, f + count, 1 | USED_BEFORE);
    this.table.set(f, 1 | RUN_START | USED_BEFORE);
    this.counters[C_ALLOCATED]! += count;
  }

  /** Frees [f, f + count), already validated. What follows in the same run becomes a run of its own. */
  private freeFrames(f: number, count: number): void {
    const end = f + count;
    if (end < this.frameLimit) {
      const next = this.table.get(end);
      if ((next & REF_MASK) !== 0 && (next & RUN_START) === 0) this.table.set(end, next | RUN_START);
    }
    this.counters[C_ALLOCATED]! -= count;
    if (count === 1 && this.frameCacheSize > 0) {
      this.table.set(f, USED_BEFORE);
      let n = this.counters[C_CACHED]!;
      if (n === this.frameCacheSize) {
        this.drainCache(this.frameCacheSize >>> 1 || 1);
        n = this.counters[C_CACHED]!;
      }
      this.cache[n] = f;
      this.counters[C_CACHED] = n + 1;
      return;
    }
    this.table.fill(f, end, USED_BEFORE);
    this.lists.freeRange(f, end);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Frame cache

  /**
   * Fills half the cache from the buddy lists, a block at a time: the smallest free block of the highest zone that
   * has one (as single-frame allocations would use it), whole if it fits, else its highest part of the size still
   * wanted. Returns the number of cached frames.
   */
  private refillCache(): number {
    let n = this.counters[C_CACHED]!;
    const target = n + Math.max(1, this.frameCacheSize >>> 1);
    while (n < target) {
      const s = this.lists.takeSmallest(target - n);
      if (s < 0) break;
      for (let f = s; f < s + this.lists.lastTaken; f++) this.cache[n++] = f;
    }
    this.counters[C_CACHED] = n;
    return n;
  }

  /** Returns the `n` oldest cached frames to the buddy lists. */
  private drainCache(n: number): void {
    const len = this.counters[C_CACHED]!;
    // Sorted, neighbouring frames go back as one range: a whole block at once instead of n single merges.
    const frames = this.cache.subarray(0, n).sort();
    let i = 0;
    while (i < n) {
      const start = frames[i]!;
      let end = start + 1;
      while (++i < n && frames[i] === end) end++;
      if (end - start === 1) this.lists.freeBlock(start, 0);
      else this.lists.freeRange(start, end);
    }
    this.cache.copyWithin(0, n, len);
    this.counters[C_CACHED] = len - n;
  }

  /** Takes the cached frames of [start, end) out of the cache (they are about to be reserved). */
  private uncacheRange(start: number, end: number): void {
    const len = this.counters[C_CACHED]!;
    let w = 0;
    for (let r = 0; r < len; r++) {
      const f = this.cache[r]!;
      if (f < start || f >= end) this.cache[w++] = f;
    }
    this.counters[C_CACHED] = w;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Counting

  /** Free frames (buddy blocks and cached frames) in [start, end). */
  private countFree(start: number, end: number): number {
    let n = this.lists.countFree(start, end);
    for (let r = 0; r < this.counters[C_CACHED]!; r++) {
      const f = this.cache[r]!;
      if (f >= start && f < end) n++;
    }
    return n;
  }

  /** True when some usable frame lies in [start, end). */
  private hasUsable(start: number, end: number): boolean {
    const { starts, ends } = this.layout;
    for (let r = 0; r < starts.length; r++) if (starts[r]! < end && ends[r]! > start) return true;
    return false;
  }
}

function misaligned(address: number): FrameError {
  return new FrameError(address, "misaligned", "is not aligned to the 4 KiB frame size");
}

/** ceil(log2(n)) for n >= 1. */
function ceilLog2(n: number): number {
  return n <= 1 ? 0 : n <= 2 ** 31 ? 32 - Math.clz32(n - 1) : Math.ceil(Math.log2(n));
}

/** 4096 -> "4 KiB", 2^31 -> "2 GiB"; fractions with one decimal. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}
