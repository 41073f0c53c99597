import {
  checkAligned,
  checkInteger,
  type FrameAllocator,
  formatCanonical48,
  type HeapApi,
  type HeapBlockInfo,
  InvalidArgumentError,
  isPowerOfTwo,
  KernelPanic,
  kernelOnlyOwners,
  type OwnerContext,
  type OwnerId,
  PAGE_SIZE,
  type VirtAddr,
  type VirtualMemory,
  type VirtualWindow,
} from "@ksim/core";
import { checkHeap, type HeapCheckReport } from "./check.js";
import { Poison, RED_ZONE } from "./debug.js";
import { DebugGuard } from "./debug-guard.js";
import { describeBadPointer, describeBlock } from "./diagnose.js";
import { describeHeaderDamage, HEADER_SIZE, HeaderIo } from "./header.js";
import { HeapPages } from "./pages.js";
import { type HeapStatistics, type OwnerUsage, type SlabinfoRow, slabRow, slabRowNames } from "./stats.js";
import { Flag, GRANULE, LIVE_BIT, MAX_GRANULES, MIN_BLOCK, SIZE_MASK, SLACK, TlsfIndex } from "./tlsf.js";

/** Options of {@link Heap}. Sizes are bytes, page multiples. */
export interface HeapOptions {
  /** Kernel-mode virtual memory: the heap's headers and data live there. */
  readonly memory: VirtualMemory;
  /** Where the heap gets frames when it grows, and gives them back when it shrinks. */
  readonly frames: FrameAllocator;
  /** The virtual window the heap lives in (an arch's `layout.heap`). Base page-aligned. */
  readonly window: VirtualWindow;
  /** Who is allocating: every block is tagged with `owners.current()`. Default: everything is the kernel's. */
  readonly owners?: OwnerContext;
  /**
   * Debug mode (in the spirit of KASAN and SLUB debugging): a red zone after every block, checked on kfree,
   * krealloc and heapCheck; freed memory poisoned and checked when it is handed out again; new blocks filled with
   * a marker byte. Slower. Default false.
   */
  readonly debug?: boolean;
  /** How addresses are printed in panics. Default: x86-64 canonical form (`0xFFFFFF0000001010`). */
  readonly formatAddress?: (address: VirtAddr) => string;
  /** Bytes mapped when the heap is created; it never shrinks below this. Default 64 KiB (liballoc's 16 pages). */
  readonly initialBytes?: number;
  /** Least bytes mapped at a time when the heap grows. Default 64 KiB. */
  readonly growBytes?: number;
  /** Free bytes at the top of the heap above which whole pages are given back. Default 128 KiB. */
  readonly trimThreshold?: number;
  /** Free bytes kept at the top when pages are given back. Default 64 KiB. */
  readonly topPad?: number;
}

/** Largest size any request may have (the index's reach); larger requests return 0. */
const MAX_REQUEST = MAX_GRANULES * GRANULE;
const GRANULES_PER_PAGE = PAGE_SIZE / GRANULE;
/** Largest alignment kmallocAligned accepts: a 2 MiB large page. */
const MAX_ALIGNMENT = 0x20_0000;
const MODULE = "heap";

/**
 * The kernel heap: kmalloc, kfree, krealloc and kcalloc with headers and data in simulated memory, as the seed
 * says, "exactly the same as malloc, free, etc.".
 *
 * Design (see README): a TLSF allocator (O(1) good fit, 16-byte granules) whose index lives in JavaScript typed
 * arrays and is authoritative; each block's 16-byte header is also written into simulated RAM just before the
 * pointer, and compared with the index on every free, so a driver that overruns its block or frees a bad pointer
 * is caught without the heap trusting what the driver may have damaged. The heap grows by mapping fresh frames at
 * its break (mem_sbrk) and gives whole free pages at the top back to the frame allocator.
 *
 * Contract shared by the entry points:
 * - a size or pointer that is not a non-negative integer throws `InvalidArgumentError` and changes nothing;
 * - running out of window or frames returns 0 and leaves the heap and the frame allocator as they were;
 * - kfree/krealloc of anything but a live block's pointer throws `KernelPanic(MEMORY_MANAGEMENT_ERROR)` naming the
 *   pointer and the reason, and leaves every byte of the heap as it was.
 */
export class Heap implements HeapApi {
  /** Lowest address of the heap (the window's base). */
  readonly base: VirtAddr;
  /** Bytes of the window the heap may use. */
  readonly capacity: number;
  /** Whether red zones and poisoning are on. */
  readonly debug: boolean;

  private readonly memory: VirtualMemory;
  private readonly frameAllocator: FrameAllocator;
  private readonly owners: OwnerContext;
  private readonly format: (address: VirtAddr) => string;
  private readonly index = new TlsfIndex();
  private readonly pages: HeapPages;
  private readonly header: HeaderIo;
  private readonly guard: DebugGuard;
  private readonly initialPages: number;
  private readonly growPages: number;
  private readonly trimThreshold: number;
  private readonly topPad: number;
  private readonly redZone: number;

  private liveBytes = 0;
  private liveBlocks = 0;
  private liveGranules = 0;
  private peakLiveBytes = 0;
  private peakMappedBytes = 0;
  private allocations = 0;
  private frees = 0;
  private failures = 0;

  /**
   * Creates the heap and maps its first `initialBytes`.
   * @throws InvalidArgumentError for a window or size option that is not page-aligned or is out of range.
   * @throws KernelPanic(OUT_OF_MEMORY) when the first pages cannot be mapped (nothing is left mapped).
   */
  constructor(options: HeapOptions) {
    const { window } = options;
    checkPageMultiple("window.base", window.base, true);
    checkPageMultiple("window.size", window.size, false);
    this.memory = options.memory;
    this.frameAllocator = options.frames;
    this.owners = options.owners ?? kernelOnlyOwners;
    this.debug = options.debug ?? false;
    this.format = options.formatAddress ?? formatCanonical48;
    this.base = window.base;
    this.capacity = Math.min(window.size, MAX_GRANULES * GRANULE);
    const initialBytes = checkPageMultiple("initialBytes", options.initialBytes ?? 0x1_0000, true);
    this.growPages = checkPageMultiple("growBytes", options.growBytes ?? 0x1_0000, false) / PAGE_SIZE;
    this.trimThreshold = checkPageMultiple("trimThreshold", options.trimThreshold ?? 0x2_0000, true);
    this.topPad = checkPageMultiple("topPad", options.topPad ?? 0x1_0000, true);
    if (initialBytes > this.capacity) {
      throw new InvalidArgumentError("initialBytes", initialBytes, "larger than the heap window");
    }
    this.redZone = this.debug ? RED_ZONE : 0;
    this.header = new HeaderIo(this.memory);
    this.guard = new DebugGuard({
      memory: this.memory,
      index: this.index,
      base: this.base,
      format: this.format,
      describe: (block) => this.describe(block),
    });
    this.pages = new HeapPages(
      this.memory,
      this.frameAllocator,
      this.base,
      this.capacity / PAGE_SIZE,
      this.debug ? Poison.free : -1,
    );
    this.initialPages = initialBytes / PAGE_SIZE;
    if (this.initialPages > 0) {
      if (!this.pages.grow(this.initialPages)) {
        throw new KernelPanic("OUT_OF_MEMORY", MODULE, `cannot map the initial ${initialBytes} bytes of the heap`);
      }
      this.extendIndex();
    }
  }

  /**
   * Allocates `size` bytes, 16-byte aligned, tagged with the current owner. The memory is not zeroed.
   * kmalloc(0) returns a unique pointer to a minimal block (16 usable bytes), as liballoc and glibc do; kfree it
   * like any other.
   * @returns the pointer, or 0 when the window or the frame allocator cannot supply the memory (nothing changed).
   * @throws InvalidArgumentError when `size` is not a non-negative integer.
   */
  kmalloc(size: number): VirtAddr {
    if (!(Number.isInteger(size) && size >= 0)) throw badSize("size", size);
    return this.allocate(size, this.currentOwner(), 1);
  }

  /**
   * Frees a block. kfree(0) does nothing.
   * @throws KernelPanic(MEMORY_MANAGEMENT_ERROR) when `pointer` is not a live block's pointer ("Invalid free
   *   detected", "Multiple free detected") or the block's header or (debug) red zone was overwritten; nothing changes.
   * @throws InvalidArgumentError when `pointer` is not a non-negative integer.
   */
  kfree(pointer: VirtAddr): void {
    if (pointer === 0) return;
    const block = this.liveBlockAt(pointer, "kfree");
    // The hot path reads the block's record once: one header comparison, the counters, the release.
    const meta = this.index.meta;
    const at = block * 4;
    const granules = meta[at]! & SIZE_MASK;
    const requested = (granules - 1) * GRANULE - meta[at + SLACK]!;
    const address = this.base + block * GRANULE;
    // The ends of the header in the hot path; debug mode and a mismatch take the full comparison (which panics).
    if (this.debug || !this.header.endsMatch(address, requested)) this.verify(block, "kfree");
    this.liveBytes -= requested;
    this.liveBlocks--;
    this.liveGranules -= granules;
    this.frees++;
    if (this.debug) this.releaseDebug(block, granules);
    else {
      this.header.writeFreed(address);
      this.index.release(block);
    }
    this.trim();
  }

  /**
   * Resizes a block, keeping its contents up to the smaller size: in place when it can (shrinking, or growing into
   * free memory after it), else by allocating, copying and freeing. krealloc(0, n) is kmalloc(n); krealloc(p, 0)
   * frees p and returns 0. The block keeps its owner.
   * @returns the new pointer, or 0 when memory runs out (then `pointer` stays valid and unchanged).
   * @throws KernelPanic(MEMORY_MANAGEMENT_ERROR) for a pointer kfree would refuse; nothing changes.
   * @throws InvalidArgumentError when an argument is not a non-negative integer.
   */
  krealloc(pointer: VirtAddr, size: number): VirtAddr {
    if (!(Number.isInteger(size) && size >= 0)) throw badSize("size", size);
    if (pointer === 0) return this.allocate(size, this.currentOwner(), 1);
    const block = this.liveBlockAt(pointer, "krealloc");
    this.verify(block, "krealloc");
    if (size === 0) {
      this.freeBlock(block);
      this.trim();
      return 0;
    }
    if (size > MAX_REQUEST) return this.fail();
    const granules = this.granulesFor(size);
    const old = this.index.sizeOf(block);
    if (granules <= old) {
      this.shrinkInPlace(block, granules, size);
      this.trim();
      return pointer;
    }
    if (this.growInPlace(block, granules, size)) return pointer;
    const moved = this.allocate(size, this.index.ownerOf(block), 1);
    if (moved === 0) return 0;
    this.memory.copy(moved, pointer, Math.min(this.requestedOf(block), size));
    this.freeBlock(block);
    this.trim();
    return moved;
  }

  /**
   * Allocates `count * size` zeroed bytes.
   * @returns the pointer, or 0 when `count * size` overflows (exceeds 2^53 - 1, far beyond any heap) or memory runs out.
   * @throws InvalidArgumentError when an argument is not a non-negative integer.
   */
  kcalloc(count: number, size: number): VirtAddr {
    if (!(Number.isInteger(count) && count >= 0)) throw badSize("count", count);
    if (!(Number.isInteger(size) && size >= 0)) throw badSize("size", size);
    const total = count * size;
    if (!Number.isSafeInteger(total)) return this.fail();
    return this.kzalloc(total);
  }

  /**
   * kmalloc followed by zeroing (the original's `kzalloc` macro).
   * @returns the pointer, or 0 when memory runs out.
   */
  kzalloc(size: number): VirtAddr {
    const pointer = this.kmalloc(size);
    if (pointer !== 0 && size > 0) this.memory.fill(pointer, size, 0);
    return pointer;
  }

  /**
   * Allocates `size` bytes at an address that is a multiple of `alignment` (a power of two up to 2 MiB; every
   * pointer is 16-byte aligned anyway), for page-aligned buffers. Freed with kfree; krealloc may move it to a merely 16-byte-aligned address.
   * @returns the pointer, or 0 when memory runs out.
   * @throws InvalidArgumentError for a size that is not a non-negative integer or an unsupported alignment.
   */
  kmallocAligned(size: number, alignment: number): VirtAddr {
    if (!(Number.isInteger(size) && size >= 0)) throw badSize("size", size);
    if (!isPowerOfTwo(alignment) || alignment > MAX_ALIGNMENT) {
      throw new InvalidArgumentError("alignment", alignment, "not a power of two up to 2 MiB");
    }
    if (this.base % alignment !== 0) {
      throw new InvalidArgumentError("alignment", alignment, "larger than the heap window's own alignment");
    }
    return this.allocate(size, this.currentOwner(), Math.max(1, alignment / GRANULE));
  }

  /** The size the caller asked for when it allocated `pointer`; panics like kfree for anything but a live block. */
  sizeOf(pointer: VirtAddr): number {
    return this.requestedOf(this.liveBlockAt(pointer, "sizeOf"));
  }

  /** Usage figures; cheap (no walk). */
  stats(): HeapStatistics {
    const index = this.index;
    const mapped = this.pages.bytes;
    return {
      mappedBytes: mapped,
      liveBytes: this.liveBytes,
      liveBlocks: this.liveBlocks,
      peakMappedBytes: this.peakMappedBytes,
      peakLiveBytes: this.peakLiveBytes,
      blockBytes: this.liveGranules * GRANULE,
      overheadBytes: this.liveGranules * GRANULE - this.liveBytes,
      freeBytes: index.freeGranules * GRANULE,
      freeBlocks: index.freeBlocks,
      frames: this.pages.count,
      allocations: this.allocations,
      frees: this.frees,
      failures: this.failures,
    };
  }

  /** Every live block in address order (walks the heap). */
  blocks(): HeapBlockInfo[] {
    const list: HeapBlockInfo[] = [];
    this.forEachLive((block) => list.push(this.infoOf(block)));
    return list;
  }

  /** Live blocks grouped by owner, largest total first: what a driver still holds when it is unloaded. */
  leaksByOwner(): OwnerUsage[] {
    const groups = new Map<OwnerId, HeapBlockInfo[]>();
    this.forEachLive((block) => {
      const info = this.infoOf(block);
      const group = groups.get(info.owner);
      if (group) group.push(info);
      else groups.set(info.owner, [info]);
    });
    const usage = [...groups].map(([owner, allocations]) => ({
      owner,
      name: this.owners.nameOf(owner),
      blocks: allocations.length,
      bytes: allocations.reduce((sum, info) => sum + info.size, 0),
      allocations,
    }));
    return usage.sort((a, b) => b.bytes - a.bytes || a.owner - b.owner);
  }

  /**
   * Frees every live block of `owner` (a driver being unloaded) and returns what was freed.
   * @throws KernelPanic(MEMORY_MANAGEMENT_ERROR) if one of the blocks was damaged (nothing is freed then).
   * @throws InvalidArgumentError when `owner` is not an integer in [0, 2^31).
   */
  releaseOwner(owner: OwnerId): HeapBlockInfo[] {
    checkInteger("owner", owner, 0, 0x7fff_ffff);
    const blocks: number[] = [];
    this.forEachLive((block) => {
      if (this.index.ownerOf(block) === owner) blocks.push(block);
    });
    for (const block of blocks) this.verify(block, "releaseOwner");
    const released = blocks.map((block) => this.infoOf(block));
    for (const block of blocks) this.freeBlock(block);
    this.trim();
    return released;
  }

  /**
   * Validates every structure: the block chain tiles the mapped heap, the free lists and bitmaps agree with it,
   * the counters add up, every live header in RAM matches the index, and in debug mode every red zone and every
   * poisoned free byte is intact. Reports problems rather than throwing, unless `options.panic` is set, in which
   * case the first problem becomes a `KernelPanic(MEMORY_MANAGEMENT_ERROR)`.
   */
  heapCheck(options: { readonly panic?: boolean } = {}): HeapCheckReport {
    const report = checkHeap({
      index: this.index,
      header: this.header,
      scanner: this.guard.scanner,
      debug: this.debug,
      base: this.base,
      mappedGranules: this.pages.count * GRANULES_PER_PAGE,
      liveBlocks: this.liveBlocks,
      liveBytes: this.liveBytes,
      liveGranules: this.liveGranules,
      describe: (block) => this.describe(block),
      format: this.format,
    });
    if (options.panic && !report.ok) {
      throw new KernelPanic("MEMORY_MANAGEMENT_ERROR", MODULE, `heapCheck: ${report.problems[0]!.message}`);
    }
    return report;
  }

  /** Live and free blocks sorted into kmalloc-style caches, in the spirit of /proc/slabinfo (walks the heap). */
  slabinfo(): SlabinfoRow[] {
    const names = slabRowNames();
    const rows = names.map(() => ({ activeObjects: 0, activeBytes: 0, blockBytes: 0, freeObjects: 0, freeBytes: 0 }));
    const index = this.index;
    for (let block = 0; block < index.top; block += index.sizeOf(block)) {
      const bytes = index.sizeOf(block) * GRANULE;
      if ((index.flagsOf(block) & Flag.Live) !== 0) {
        const row = rows[slabRow(this.requestedOf(block))]!;
        row.activeObjects++;
        row.activeBytes += this.requestedOf(block);
        row.blockBytes += bytes;
      } else {
        const row = rows[slabRow(Math.max(0, bytes - HEADER_SIZE - this.redZone))]!;
        row.freeObjects++;
        row.freeBytes += bytes;
      }
    }
    return names.map((name, i) => ({ ...name, ...rows[i]! }));
  }

  // --- allocation -------------------------------------------------------------------------------------------------

  private allocate(size: number, owner: OwnerId, alignGranules: number): VirtAddr {
    if (size > MAX_REQUEST) return this.fail();
    if (alignGranules !== 1 || this.debug) return this.allocateSlow(size, owner, alignGranules);
    // The hot path: one fit, one take that also tags the record, one header write.
    const granules = this.granulesFor(size);
    const index = this.index;
    let found = index.findFit(granules);
    if (found < 0) {
      if (!this.growFor(granules)) return this.fail();
      found = index.findFit(granules);
    }
    const blockGranules = index.takeLive(found, granules, owner, (granules - 1) * GRANULE - size);
    const address = this.base + found * GRANULE;
    this.header.writeLive(address, size, owner, blockGranules);
    this.counted(size, blockGranules);
    return address + HEADER_SIZE;
  }

  /** Allocation with an alignment or in debug mode (poison checked before, the block painted after). */
  private allocateSlow(size: number, owner: OwnerId, alignGranules: number): VirtAddr {
    const granules = this.granulesFor(size);
    const index = this.index;
    // An aligned block may need a free block in front of it: 0 or at least MIN_BLOCK granules.
    const need = alignGranules === 1 ? granules : granules + alignGranules + MIN_BLOCK - 1;
    let found = index.findFit(need);
    if (found < 0) {
      if (!this.growFor(need)) return this.fail();
      found = index.findFit(need);
    }
    const front = alignGranules === 1 ? 0 : this.frontFor(found, alignGranules);
    if (this.debug) this.guard.checkPoison(found, found + front + granules, "kmalloc");
    const block = index.take(found, granules, front);
    index.setLive(block, owner, (index.sizeOf(block) - 1) * GRANULE - size);
    this.header.writeLive(this.addressOf(block), size, owner, index.sizeOf(block));
    if (this.debug) this.guard.paintLive(block, 0, size);
    this.counted(size, index.sizeOf(block));
    return this.addressOf(block) + HEADER_SIZE;
  }

  /** Counts a new live block of `size` bytes spanning `granules`. */
  private counted(size: number, granules: number): void {
    this.liveBlocks++;
    this.liveGranules += granules;
    this.liveBytes += size;
    if (this.liveBytes > this.peakLiveBytes) this.peakLiveBytes = this.liveBytes;
    this.allocations++;
  }

  /** Granules to skip at the start of free block `start` so that the pointer is aligned (0 or >= MIN_BLOCK). */
  private frontFor(start: number, alignGranules: number): number {
    const phase = (this.base / GRANULE + start + 1) % alignGranules;
    let front = phase === 0 ? 0 : alignGranules - phase;
    if (front === 1) front += alignGranules;
    return front;
  }

  /** Maps pages at the top so that a free block of `granules` exists there. False (nothing changed) if it cannot. */
  private growFor(granules: number): boolean {
    const index = this.index;
    const tail = index.freeTail();
    const available = tail >= 0 ? index.top - tail : 0;
    const needed = Math.ceil((granules - available) / GRANULES_PER_PAGE);
    const room = this.pages.maxPages - this.pages.count;
    if (needed > room) return false;
    const wanted = Math.min(Math.max(needed, this.growPages), room);
    if (!this.pages.grow(wanted) && (wanted === needed || !this.pages.grow(needed))) return false;
    this.extendIndex();
    return true;
  }

  /** Tells the index about pages the break has grown by. */
  private extendIndex(): void {
    const top = this.pages.count * GRANULES_PER_PAGE;
    this.index.ensureCapacity(top + 1);
    this.index.extendTop(top);
    if (this.pages.bytes > this.peakMappedBytes) this.peakMappedBytes = this.pages.bytes;
  }

  private fail(): VirtAddr {
    this.failures++;
    return 0;
  }

  // --- freeing and resizing ---------------------------------------------------------------------------------------

  private freeBlock(block: number): void {
    const index = this.index;
    const size = index.sizeOf(block);
    this.liveBytes -= this.requestedOf(block);
    this.liveBlocks--;
    this.liveGranules -= size;
    this.frees++;
    if (this.debug) this.releaseDebug(block, size);
    else {
      this.header.writeFreed(this.addressOf(block));
      index.release(block);
    }
  }

  /** Debug: releases block `block` of `size` granules, poisoning every byte of the resulting free block. */
  private releaseDebug(block: number, size: number): void {
    // Every byte of a free block but its header must read as poison, so a merged-away header is poisoned too.
    this.guard.poisonFreed(block, block + size);
    if (this.index.release(block) === block) this.header.writeFreed(this.addressOf(block));
  }

  private shrinkInPlace(block: number, granules: number, size: number): void {
    const index = this.index;
    const old = index.sizeOf(block);
    if (this.debug && old - granules >= MIN_BLOCK) this.guard.poisonFreed(block + granules, block + old);
    // The request can still grow within the block (kmalloc(0) then krealloc(p, 15)).
    this.liveBytes += size - this.requestedOf(block);
    if (this.liveBytes > this.peakLiveBytes) this.peakLiveBytes = this.liveBytes;
    index.shrink(block, granules);
    this.resized(block, old, size);
  }

  private growInPlace(block: number, granules: number, size: number): boolean {
    const index = this.index;
    const old = index.sizeOf(block);
    const oldRequested = this.requestedOf(block);
    const next = block + old;
    // The block can also grow at the heap's top: map pages there, then absorb them.
    const atTop = next === index.top || next === index.freeTail();
    const reach = next === index.top ? old : old + (index.freeNeighbour(block) >= 0 ? index.sizeOf(next) : 0);
    if (reach < granules) {
      if (!atTop || !this.growFor(granules - old)) return false;
    }
    if (this.debug) this.guard.checkPoison(next, block + granules, "krealloc");
    if (!index.growInPlace(block, granules)) return false;
    this.liveBytes += size - oldRequested;
    if (this.liveBytes > this.peakLiveBytes) this.peakLiveBytes = this.liveBytes;
    this.resized(block, old, size);
    if (this.debug) this.guard.paintLive(block, oldRequested, size);
    return true;
  }

  /** Book-keeping after a block changed size in place: counters, the header in RAM and (debug) the red zone. */
  private resized(block: number, oldGranules: number, size: number): void {
    const index = this.index;
    this.liveGranules += index.sizeOf(block) - oldGranules;
    this.setRequested(block, size);
    this.header.writeLive(this.addressOf(block), size, index.ownerOf(block), index.sizeOf(block));
    if (this.debug) this.guard.paintLive(block, size, size);
  }

  /** Gives whole free pages at the top back: all but the initial ones when the heap is empty, else past a threshold. */
  private trim(): void {
    const index = this.index;
    const tail = index.freeTail();
    if (tail < 0) return;
    const floor = this.initialPages * GRANULES_PER_PAGE;
    let newTop: number;
    if (this.liveBlocks === 0) {
      newTop = floor;
    } else {
      if ((index.top - tail) * GRANULE <= this.trimThreshold) return;
      const keep = tail + 1 + this.topPad / GRANULE;
      newTop = Math.max(floor, Math.ceil(keep / GRANULES_PER_PAGE) * GRANULES_PER_PAGE);
    }
    if (newTop < tail) newTop = tail;
    if (newTop > tail && newTop - tail < MIN_BLOCK) newTop += GRANULES_PER_PAGE;
    if (newTop >= index.top) return;
    index.shrinkTop(newTop);
    this.pages.shrinkTo(newTop / GRANULES_PER_PAGE);
  }

  // --- validation -------------------------------------------------------------------------------------------------

  /** The block whose pointer is `pointer`, or a panic saying why there is none. */
  private liveBlockAt(pointer: VirtAddr, operation: string): number {
    // `(block | 0) === block` keeps out NaN and fractions (block is below 2^28 when it is below top).
    const block = (pointer - this.base - HEADER_SIZE) / GRANULE;
    if (
      block >= 0 &&
      block < this.index.top &&
      (block | 0) === block &&
      (this.index.meta[block * 4]! & LIVE_BIT) !== 0
    ) {
      return block;
    }
    return this.badPointer(pointer, operation);
  }

  /** The slow path of {@link liveBlockAt}: the error that says why `pointer` is not a live block's. */
  private badPointer(pointer: VirtAddr, operation: string): never {
    if (!(Number.isInteger(pointer) && pointer >= 0)) {
      throw new InvalidArgumentError("pointer", pointer, "not a non-negative integer address");
    }
    const why = describeBadPointer(
      { index: this.index, base: this.base, capacity: this.capacity, format: this.format },
      pointer,
      (b) => this.describe(b),
    );
    throw new KernelPanic("MEMORY_MANAGEMENT_ERROR", MODULE, `${operation}(${this.format(pointer)}): ${why}`);
  }

  /** Compares live block `block`'s header in RAM (and in debug mode its red zone) with the index; panics if damaged. */
  private verify(block: number, operation: string): void {
    const index = this.index;
    const address = this.addressOf(block);
    const requested = this.requestedOf(block);
    const owner = index.ownerOf(block);
    const granules = index.sizeOf(block);
    if (!this.header.matches(address, requested, owner, granules)) {
      const damage = describeHeaderDamage(this.header.read(address), requested, owner, granules);
      const prev = index.prevOf(block);
      const culprit =
        prev >= 0 && (index.flagsOf(prev) & Flag.Live) !== 0
          ? `a potential overrun of the block before it, ${this.describe(prev)}, or an underrun of this one`
          : "an underrun of this block or a stray write";
      throw new KernelPanic(
        "MEMORY_MANAGEMENT_ERROR",
        MODULE,
        `${operation}(${this.format(address + HEADER_SIZE)}): Heap corruption detected: the header of ` +
          `${this.describe(block)} was overwritten (${damage}): ${culprit}`,
      );
    }
    if (this.debug) this.guard.checkRedZone(block, requested, operation);
  }

  // --- helpers ----------------------------------------------------------------------------------------------------

  /** Block size in granules for a request: header, payload rounded up to 16 bytes (at least 16), red zone. */
  private granulesFor(size: number): number {
    const payload = size + this.redZone;
    // Integer arithmetic for the sizes that fit 31 bits (all but the largest requests).
    if (payload <= 0x7fff_0000) return payload <= GRANULE ? MIN_BLOCK : ((payload + GRANULE - 1) >> 4) + 1;
    return Math.ceil(payload / GRANULE) + 1;
  }

  private addressOf(block: number): VirtAddr {
    return this.base + block * GRANULE;
  }

  private requestedOf(block: number): number {
    return (this.index.sizeOf(block) - 1) * GRANULE - this.index.slackOf(block);
  }

  private setRequested(block: number, size: number): void {
    this.index.setSlack(block, (this.index.sizeOf(block) - 1) * GRANULE - size);
  }

  private currentOwner(): OwnerId {
    const owner = this.owners.current();
    if ((owner | 0) !== owner || owner < 0) {
      throw new InvalidArgumentError("owners.current()", owner, "an owner id must be an integer in [0, 2^31)");
    }
    return owner;
  }

  private infoOf(block: number): HeapBlockInfo {
    return {
      address: this.addressOf(block) + HEADER_SIZE,
      size: this.requestedOf(block),
      owner: this.index.ownerOf(block),
    };
  }

  /** "the block 0xFFFF... (24 bytes, owner \"kernel\")" */
  private describe(block: number): string {
    const owner = this.index.ownerOf(block);
    return describeBlock(
      this.format(this.addressOf(block) + HEADER_SIZE),
      this.requestedOf(block),
      this.owners.nameOf(owner),
    );
  }

  private forEachLive(visit: (block: number) => void): void {
    const index = this.index;
    for (let block = 0; block < index.top; block += index.sizeOf(block)) {
      if ((index.flagsOf(block) & Flag.Live) !== 0) visit(block);
    }
  }
}

/** The edge check's slow path: `checkInteger` throws the error that names the problem. */
function badSize(argument: string, value: number): InvalidArgumentError {
  checkInteger(argument, value);
  return new InvalidArgumentError(argument, value, "not a non-negative integer");
}

function checkPageMultiple(argument: string, value: number, allowZero: boolean): number {
  checkInteger(argument, value, allowZero ? 0 : 1);
  return checkAligned(argument, value, PAGE_SIZE);
}
