import {
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
} from "@ksim/core";
import { checkHeap, type HeapCheckReport } from "./check.js";
import { Poison, RED_ZONE } from "./debug.js";
import { DebugGuard } from "./debug-guard.js";
import { HeapExtent } from "./extent.js";
import { HeaderCheck } from "./header.js";
import {
  CONTROL_BYTES,
  FIRST_BLOCK,
  FREE_BIT,
  FREE_MAGIC,
  GRANULE,
  granulesFor,
  HEADER_SIZE,
  LIVE_MAGIC,
  MAGIC,
  MAX_GRANULES,
  MIN_BLOCK,
  REQUESTED,
  SIZE_FLAGS,
  SIZE_MASK,
} from "./layout.js";
import { badSize, checkSizing, type HeapOptions } from "./options.js";
import type { HeapPages } from "./pages.js";
import { HeapPanics } from "./panics.js";
import { blockInfo, forEachLive, leaksByOwner, type ReportContext, slabinfo } from "./reports.js";
import { HeapShadow } from "./shadow.js";
import type { HeapStatistics, OwnerUsage, SlabinfoRow } from "./stats.js";
import { Tlsf } from "./tlsf.js";

export type { HeapOptions } from "./options.js";

/** Largest size any request may have (the heap's reach; the header's size field is 32 bits); larger requests return 0. */
const MAX_REQUEST = MAX_GRANULES * GRANULE - CONTROL_BYTES - 2 * GRANULE;
/** Largest alignment kmallocAligned accepts: a 2 MiB large page. */
const MAX_ALIGNMENT = 0x20_0000;
/** Bytes of the heap that are neither blocks nor free blocks: the control block and the end marker. */
const CONTROL_OVERHEAD = CONTROL_BYTES + GRANULE;
const MODULE = "heap";

/**
 * The kernel heap: kmalloc, kfree, krealloc and kcalloc in simulated memory, as the seed says, "exactly the same as
 * malloc, free, etc.".
 *
 * Design (see README): a TLSF allocator (O(1) good fit, 16-byte granules) whose every structure is bytes in the
 * heap's window of simulated RAM: the control block (bitmaps, free-list heads) at its base, a header before each
 * block, free-list links inside free blocks. A driver that overruns its block or writes through a stale pointer
 * really damages them, and the heap checks what it reads (magics, sizes against neighbours, links against their
 * partners) so it panics naming the damage instead of trusting it. Out of band, like KASAN's shadow, are only where
 * live blocks start (to refuse bad frees without touching RAM), owner tags and statistics. The heap grows by
 * mapping fresh frames at its break (mem_sbrk) and gives whole free pages at the top back to the frame allocator.
 *
 * Contract shared by the entry points:
 * - a size or pointer that is not a non-negative integer throws `InvalidArgumentError` and changes nothing;
 * - running out of window or frames returns 0 and leaves the heap and the frame allocator as they were;
 * - kfree/krealloc of anything but a live block's pointer throws `KernelPanic(MEMORY_MANAGEMENT_ERROR)` naming the
 *   pointer and the reason, and leaves every byte of the heap as it was; so does a damaged header of the block.
 */
export class Heap implements HeapApi {
  /** Lowest address of the heap (the window's base): the control block is there. */
  readonly base: VirtAddr;
  /** Bytes of the window the heap may use. */
  readonly capacity: number;
  /** Whether red zones and poisoning are on. */
  readonly debug: boolean;

  private readonly memory: VirtualMemory;
  private readonly frameAllocator: FrameAllocator;
  private readonly owners: OwnerContext;
  private readonly format: (address: VirtAddr) => string;
  private readonly tlsf: Tlsf;
  private readonly shadow = new HeapShadow();
  private readonly header: HeaderCheck;
  private readonly extent: HeapExtent;
  /** The extent's pages (its holes count is read on every kmalloc). */
  private readonly pages: HeapPages;
  /** Free blocks at least this many granules long give their interior pages back (Infinity in debug mode). */
  private readonly interiorGranules: number;
  private readonly guard: DebugGuard;
  private readonly panics: HeapPanics;
  private readonly reports: ReportContext;
  private readonly redZone: number;
  /** The entry point running, named in corruption panics. */
  private operation = "kmalloc";

  private liveBytes = 0;
  private liveBlocks = 0;
  private liveGranules = 0;
  private peakLiveBytes = 0;
  private allocations = 0;
  private frees = 0;
  private failures = 0;

  /**
   * Creates the heap and maps its first `initialBytes` (the control block goes at the start).
   * @throws InvalidArgumentError for a window or size option that is not page-aligned or is out of range.
   * @throws KernelPanic(OUT_OF_MEMORY) when the first pages cannot be mapped (nothing is left mapped).
   */
  constructor(options: HeapOptions) {
    const { window } = options;
    this.capacity = Math.min(window.size, MAX_GRANULES * GRANULE);
    const sizing = checkSizing(options, this.capacity);
    this.memory = options.memory;
    this.frameAllocator = options.frames;
    this.owners = options.owners ?? kernelOnlyOwners;
    this.debug = options.debug ?? false;
    this.format = options.formatAddress ?? formatCanonical48;
    this.base = window.base;
    this.redZone = this.debug ? RED_ZONE : 0;
    this.tlsf = new Tlsf(this.memory, this.base, (block, detail) => this.panics.corruption(block, detail));
    this.header = new HeaderCheck(this.tlsf, this.redZone);
    this.guard = new DebugGuard({
      memory: this.memory,
      tlsf: this.tlsf,
      format: this.format,
      describe: (block) => this.panics.describe(block),
    });
    this.panics = new HeapPanics({
      tlsf: this.tlsf,
      shadow: this.shadow,
      header: this.header,
      owners: this.owners,
      format: this.format,
      capacity: this.capacity,
      guard: this.debug ? this.guard : null,
      operation: () => this.operation,
    });
    this.reports = {
      tlsf: this.tlsf,
      shadow: this.shadow,
      owners: this.owners,
      redZone: this.redZone,
      requestedOf: (block) => this.requestedOf(block),
    };
    this.extent = new HeapExtent({
      memory: this.memory,
      frames: this.frameAllocator,
      base: this.base,
      capacity: this.capacity,
      tlsf: this.tlsf,
      shadow: this.shadow,
      sizing,
      guard: this.debug ? this.guard : null,
      fillByte: this.debug ? Poison.free : -1,
    });
    this.pages = this.extent.pages;
    this.interiorGranules = this.debug ? Number.POSITIVE_INFINITY : Math.max(sizing.trimThreshold, PAGE_SIZE) / GRANULE;
  }

  /**
   * Allocates `size` bytes, 16-byte aligned, tagged with the current owner. The memory is not zeroed.
   * kmalloc(0) returns a unique pointer to a minimal block (16 usable bytes), as liballoc and glibc do; kfree it
   * like any other.
   * @returns the pointer, or 0 when the window or the frame allocator cannot supply the memory (nothing changed).
   * @throws InvalidArgumentError when `size` is not a non-negative integer.
   * @throws KernelPanic(MEMORY_MANAGEMENT_ERROR) when the free lists or the control block in RAM were damaged.
   */
  kmalloc(size: number): VirtAddr {
    if (!(Number.isInteger(size) && size >= 0)) throw badSize("size", size);
    this.operation = "kmalloc";
    return this.allocate(size, this.currentOwner(), 1);
  }

  /**
   * Frees a block. kfree(0) does nothing.
   * @throws KernelPanic(MEMORY_MANAGEMENT_ERROR) when `pointer` is not a live block's pointer ("Invalid free
   *   detected", "Multiple free detected") or the block's header or (debug) red zone was overwritten ("Heap
   *   corruption detected", "Heap overflow detected"); nothing changes.
   * @throws InvalidArgumentError when `pointer` is not a non-negative integer.
   */
  kfree(pointer: VirtAddr): void {
    if (pointer === 0) return;
    this.operation = "kfree";
    const block = this.liveBlockAt(pointer, "kfree");
    // The hot path reads the header once (three words) and checks it; debug mode and a mismatch take the full check.
    const memory = this.memory;
    const at = pointer - HEADER_SIZE;
    const magic = memory.read32(at + MAGIC);
    const word = memory.read32(at + SIZE_FLAGS);
    const requested = memory.read32(at + REQUESTED);
    const size = word & (SIZE_MASK | FREE_BIT);
    const slack = size - granulesFor(requested);
    if (magic !== LIVE_MAGIC || slack < 0 || slack > 1 || block + size > this.tlsf.top - 1 || this.debug) {
      this.panics.verify(block, "kfree");
    }
    this.freeBlock(block, word, requested);
    if (this.tlsf.freedEnd === this.tlsf.top - 1) this.extent.trim(this.liveBlocks);
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
    this.operation = "krealloc";
    if (pointer === 0) return this.allocate(size, this.currentOwner(), 1);
    const block = this.liveBlockAt(pointer, "krealloc");
    this.panics.verify(block, "krealloc");
    const tlsf = this.tlsf;
    const oldRequested = tlsf.word(block, REQUESTED);
    if (size === 0) {
      this.freeBlock(block, tlsf.sizeWord(block), oldRequested);
      this.extent.trim(this.liveBlocks);
      return 0;
    }
    if (size > MAX_REQUEST) return this.fail();
    const need = granulesFor(size + this.redZone);
    const old = tlsf.sizeWord(block) & SIZE_MASK;
    if (need <= old) {
      tlsf.shrink(block, need);
      if (this.debug && tlsf.liveSize < old) {
        const tail = block + tlsf.liveSize;
        this.guard.poisonFreed(tail, tail, block + old, tlsf.mergedNext);
      }
      this.resized(block, old, oldRequested, size);
      this.extent.trim(this.liveBlocks);
      return pointer;
    }
    if (this.growInPlace(block, need)) {
      this.resized(block, old, oldRequested, size);
      return pointer;
    }
    const moved = this.allocate(size, this.shadow.ownerOf(block), 1);
    if (moved === 0) return 0;
    this.memory.copy(moved, pointer, Math.min(oldRequested, size));
    this.freeBlock(block, tlsf.sizeWord(block), oldRequested);
    this.extent.trim(this.liveBlocks);
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
   * pointer is 16-byte aligned anyway), for page-aligned buffers. Freed with kfree; krealloc may move it to a
   * merely 16-byte-aligned address.
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
    this.operation = "kmallocAligned";
    return this.allocate(size, this.currentOwner(), Math.max(1, alignment / GRANULE));
  }

  /** The size the caller asked for when it allocated `pointer`; panics like kfree for anything but a live block. */
  sizeOf(pointer: VirtAddr): number {
    return this.requestedOf(this.liveBlockAt(pointer, "sizeOf"));
  }

  /** Usage figures; cheap (no walk). */
  stats(): HeapStatistics {
    const pages = this.extent.pages;
    const mapped = pages.bytes;
    return {
      mappedBytes: mapped,
      liveBytes: this.liveBytes,
      liveBlocks: this.liveBlocks,
      peakMappedBytes: this.extent.peakMappedBytes,
      peakLiveBytes: this.peakLiveBytes,
      blockBytes: this.liveGranules * GRANULE,
      overheadBytes: this.liveGranules * GRANULE - this.liveBytes,
      freeBytes: this.tlsf.freeGranules * GRANULE,
      freeBlocks: this.tlsf.freeBlocks,
      controlBytes: pages.count === 0 ? 0 : CONTROL_OVERHEAD,
      unmappedBytes: pages.holes * PAGE_SIZE,
      frames: pages.resident,
      allocations: this.allocations,
      frees: this.frees,
      failures: this.failures,
    };
  }

  /** Every live block in address order. */
  blocks(): HeapBlockInfo[] {
    const list: HeapBlockInfo[] = [];
    forEachLive(this.reports, (block) => list.push(blockInfo(this.reports, block)));
    return list;
  }

  /** Live blocks grouped by owner, largest total first: what a driver still holds when it is unloaded. */
  leaksByOwner(): OwnerUsage[] {
    return leaksByOwner(this.reports);
  }

  /**
   * Frees every live block of `owner` (a driver being unloaded) and returns what was freed.
   * @throws KernelPanic(MEMORY_MANAGEMENT_ERROR) if one of the blocks was damaged (nothing is freed then).
   * @throws InvalidArgumentError when `owner` is not an integer in [0, 2^31).
   */
  releaseOwner(owner: OwnerId): HeapBlockInfo[] {
    checkInteger("owner", owner, 0, 0x7fff_ffff);
    this.operation = "releaseOwner";
    const blocks: number[] = [];
    forEachLive(this.reports, (block) => {
      if (this.shadow.ownerOf(block) === owner) blocks.push(block);
    });
    for (const block of blocks) this.panics.verify(block, "releaseOwner");
    const released = blocks.map((block) => blockInfo(this.reports, block));
    for (const block of blocks) this.freeBlock(block, this.tlsf.sizeWord(block), this.requestedOf(block));
    this.extent.trim(this.liveBlocks);
    return released;
  }

  /**
   * Validates every structure in RAM: the control block, the block chain (it tiles the mapped heap, sizes and back
   * links agree, no two free neighbours, the end marker), every live header, the free lists and bitmaps, the shadow
   * and the counters, and in debug mode every red zone and every poisoned free byte. Reports problems rather than
   * throwing (and never follows a damaged link out of the heap or round a cycle), unless `options.panic` is set, in
   * which case the first problem becomes a `KernelPanic(MEMORY_MANAGEMENT_ERROR)`.
   */
  heapCheck(options: { readonly panic?: boolean } = {}): HeapCheckReport {
    const report = checkHeap({
      tlsf: this.tlsf,
      shadow: this.shadow,
      header: this.header,
      scanner: this.guard.scanner,
      debug: this.debug,
      mappedGranules: this.extent.mappedGranules,
      liveBlocks: this.liveBlocks,
      liveBytes: this.liveBytes,
      liveGranules: this.liveGranules,
      describe: (block) => this.panics.describe(block),
      format: this.format,
    });
    if (options.panic && !report.ok) {
      throw new KernelPanic("MEMORY_MANAGEMENT_ERROR", MODULE, `heapCheck: ${report.problems[0]!.message}`);
    }
    return report;
  }

  /** Live and free blocks sorted into kmalloc-style caches, in the spirit of /proc/slabinfo (walks the heap). */
  slabinfo(): SlabinfoRow[] {
    return slabinfo(this.reports);
  }

  // --- allocation -------------------------------------------------------------------------------------------------

  private allocate(size: number, owner: OwnerId, alignGranules: number): VirtAddr {
    if (size > MAX_REQUEST) return this.fail();
    if (alignGranules !== 1 || this.debug) return this.allocateSlow(size, owner, alignGranules);
    // The hot path: one fit, one take that writes the header, the shadow.
    const need = granulesFor(size);
    const tlsf = this.tlsf;
    let found = tlsf.findFit(need);
    if (found === 0) {
      if (!this.extent.growFor(need)) return this.fail();
      found = tlsf.findFit(need);
    }
    // Pages given back inside the free block come back first (with the split-off tail's header and link).
    if (this.pages.holes !== 0 && !this.extent.prepare(found, found + need + MIN_BLOCK)) return this.fail();
    const block = tlsf.take(found, need, 0, size);
    this.shadow.setLive(block, owner);
    this.counted(size, tlsf.liveSize);
    return this.base + block * GRANULE + HEADER_SIZE;
  }

  /** Allocation with an alignment or in debug mode (poison checked before, the block painted after). */
  private allocateSlow(size: number, owner: OwnerId, alignGranules: number): VirtAddr {
    const need = granulesFor(size + this.redZone);
    const tlsf = this.tlsf;
    // An aligned block may need a free block in front of it: 0 or at least MIN_BLOCK granules.
    const want = alignGranules === 1 ? need : need + alignGranules + MIN_BLOCK - 1;
    let found = tlsf.findFit(want);
    if (found === 0) {
      if (!this.extent.growFor(want)) return this.fail();
      found = tlsf.findFit(want);
    }
    const front = alignGranules === 1 ? 0 : this.frontFor(found, alignGranules);
    if (!this.extent.prepare(found, found + front + need + MIN_BLOCK)) return this.fail();
    tlsf.verifyFit(found, front + need); // before reading the block's memory: a damaged head must not lead outside
    if (this.debug) this.guard.checkPoison(found, found + front + need, this.operation);
    const block = tlsf.take(found, need, front, size);
    this.shadow.setLive(block, owner);
    this.counted(size, tlsf.liveSize);
    if (this.debug) this.guard.paintLive(block, 0, size);
    return tlsf.addressOf(block) + HEADER_SIZE;
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

  private fail(): VirtAddr {
    this.failures++;
    return 0;
  }

  // --- freeing and resizing ---------------------------------------------------------------------------------------

  /** Frees live block `block` (header checked) whose size word is `word`; poisons it in debug mode. */
  private freeBlock(block: number, word: number, requested: number): void {
    const size = word & SIZE_MASK;
    const start = this.tlsf.release(block, word);
    this.shadow.setFreed(block);
    this.liveBytes -= requested;
    this.liveBlocks--;
    this.liveGranules -= size;
    this.frees++;
    if (this.debug) this.guard.poisonFreed(start, block, block + size, this.tlsf.mergedNext);
    else {
      // A header merged into the free block before it still says freed, as liballoc's would.
      if (start !== block) this.memory.write32(this.tlsf.addressOf(block) + MAGIC, FREE_MAGIC);
      const end = this.tlsf.freedEnd;
      if (end - start >= this.interiorGranules) this.extent.releaseInterior(start, end);
    }
  }

  /**
   * Grows live block `block` to `need` granules into the free block after it, mapping pages first when the block
   * ends at the heap's top. False (nothing changed) when it cannot.
   */
  private growInPlace(block: number, need: number): boolean {
    const tlsf = this.tlsf;
    const old = tlsf.sizeWord(block) & SIZE_MASK;
    const next = block + old;
    const end = tlsf.top - 1;
    const nextWord = next < end ? tlsf.sizeWord(next) : 0;
    const nextFree = (nextWord & FREE_BIT) !== 0;
    const reach = nextFree ? old + (nextWord & SIZE_MASK) : old;
    if (reach < need) {
      const atTop = next === end || (nextFree && next + (nextWord & SIZE_MASK) === end);
      if (!atTop || !this.extent.growFor(need - old)) return false;
    }
    if (!this.extent.prepare(next, block + need + MIN_BLOCK)) return false;
    if (this.debug) {
      this.tlsf.verifyFreeSuccessor(block); // before reading the neighbour's memory
      this.guard.checkPoison(next, block + need, "krealloc");
    }
    return tlsf.growInPlace(block, need);
  }

  /** Book-keeping after block `block` changed size in place: counters, the requested size and (debug) paint. */
  private resized(block: number, oldGranules: number, oldRequested: number, size: number): void {
    this.liveGranules += this.tlsf.liveSize - oldGranules;
    this.liveBytes += size - oldRequested;
    if (this.liveBytes > this.peakLiveBytes) this.peakLiveBytes = this.liveBytes;
    this.memory.write32(this.tlsf.addressOf(block) + REQUESTED, size);
    if (this.debug) this.guard.paintLive(block, Math.min(oldRequested, size), size);
  }

  // --- validation -------------------------------------------------------------------------------------------------

  /** The block whose pointer is `pointer` (the shadow says a live block starts there), or a panic saying why not. */
  private liveBlockAt(pointer: VirtAddr, operation: string): number {
    // `(block | 0) === block` keeps out NaN and fractions (block is below 2^28 when it is below top).
    const block = (pointer - this.base - HEADER_SIZE) / GRANULE;
    if (
      block >= FIRST_BLOCK &&
      block < this.tlsf.top &&
      (block | 0) === block &&
      ((this.shadow.bits[(block >>> 5) << 2]! >>> (block & 31)) & 1) !== 0
    ) {
      return block;
    }
    return this.panics.badPointer(pointer, operation);
  }

  // --- helpers ----------------------------------------------------------------------------------------------------

  private requestedOf(block: number): number {
    return this.tlsf.word(block, REQUESTED);
  }

  private currentOwner(): OwnerId {
    const owner = this.owners.current();
    if ((owner | 0) !== owner || owner < 0) {
      throw new InvalidArgumentError("owners.current()", owner, "an owner id must be an integer in [0, 2^31)");
    }
    return owner;
  }
}
