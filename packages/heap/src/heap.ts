import {
  checkInteger,
  formatCanonical48,
  type HeapApi,
  type HeapBlockInfo,
  InvalidArgumentError,
  isPowerOfTwo,
  KERNEL_OWNER,
  KernelPanic,
  kernelOnlyOwners,
  type OwnerContext,
  type OwnerId,
  type VirtAddr,
  type VirtualMemory,
} from "@ksim/core";
import { checkHeap, type HeapCheckReport } from "./check.js";
import { MAX_SLAB_SIZE, SizeClasses } from "./classes.js";
import { PatternScanner, RED_ZONE } from "./debug.js";
import { DebugGuard } from "./debug-guard.js";
import { type BlockFacts, Inspector } from "./inspect.js";
import { LargeBlocks } from "./large.js";
import { CONTROL_MAGIC, CONTROL_ROW, HEADER_SIZE, LINK, PAGE, SIZE, sealOf } from "./layout.js";
import { badSize, checkWindow, type HeapOptions } from "./options.js";
import { HeapPanics } from "./panics.js";
import { QUARANTINE_OBJECTS } from "./quarantine.js";
import { blocks, leaksByOwner, slabinfo } from "./reports.js";
import { HeapShadow, LARGE_KIND } from "./shadow.js";
import { Slabs, type SweepPlan } from "./slabs.js";
import { HeapSpace } from "./space.js";
import type { HeapStatistics, OwnerUsage, SlabinfoRow } from "./stats.js";

export type { HeapOptions } from "./options.js";

/** What {@link Heap.prepareRelease} checked: the quarantined object to push out (debug mode) and a sweep's plan. */
interface PreparedRelease {
  readonly oldest: { readonly h: number; readonly c: number } | null;
  readonly plan: SweepPlan | null;
}

const NOTHING_PREPARED: PreparedRelease = { oldest: null, plan: null };

/** The entry points, named in panics for damage found mid-call. */
const OPERATIONS = ["kmalloc", "kfree", "krealloc", "kmallocAligned", "releaseOwner"] as const;

/** Largest alignment kmallocAligned accepts: a 2 MiB large page. */
const MAX_ALIGNMENT = 0x20_0000;

/**
 * The kernel heap: kmalloc, kfree, krealloc and kcalloc in simulated memory, as the seed says, "exactly the same as
 * malloc, free, etc.".
 *
 * Design (see README): size-class slabs (72 classes up to 32 KiB, LIFO free lists) and whole pages above, with the
 * whole structure in the heap's window of simulated RAM: the list heads in a control page, a 16-byte header before
 * each object (tag, size, a check word, owner; the free-list link while free), per-slab in-use counts and large
 * blocks' headers in page descriptors. A driver that overruns its block or writes through a stale pointer really
 * damages them, and the heap checks what it reads so it panics naming the damage instead of trusting it. Out of
 * band, like KASAN's shadow, are only where live blocks start and which page is whose (see `HeapShadow`).
 *
 * Contract shared by the entry points:
 * - a size or pointer that is not a non-negative integer throws `InvalidArgumentError` and changes nothing;
 * - running out of window or frames returns 0 and leaves the heap and the frame allocator as they were;
 * - kfree/krealloc of anything but a live block's pointer throws `KernelPanic(MEMORY_MANAGEMENT_ERROR)` naming the
 *   pointer and the reason, and leaves every byte of the heap as it was; so does a damaged header of the block.
 */
export class Heap implements HeapApi {
  /** Lowest address of the heap (the window's base): the control page is there. */
  readonly base: VirtAddr;
  /** Bytes of the window the heap may use (at most 4 GiB). */
  readonly capacity: number;
  /** Whether red zones, poisoning and the quarantine are on. */
  readonly debug: boolean;

  private readonly memory: VirtualMemory;
  private readonly owners: OwnerContext;
  private readonly classes = new SizeClasses();
  private readonly shadow = new HeapShadow();
  private readonly space: HeapSpace;
  private readonly slabs: Slabs;
  private readonly large: LargeBlocks;
  private readonly inspector: Inspector;
  private readonly panics: HeapPanics;
  private readonly guard: DebugGuard | null;
  /** Red zone bytes every block gets (debug mode). */
  private readonly redZone: number;
  /** The entry point running (an index in {@link OPERATIONS}: a small integer is the cheapest store), for panics. */
  private operation = 0;
  /** No OwnerContext was given: every block is the kernel's, and kmalloc need not ask. */
  private readonly kernelOnly: boolean;

  private liveBytes = 0;
  private liveBlocks = 0;
  private peakLiveBytes = 0;
  private allocations = 0;
  private frees = 0;
  private failures = 0;

  /**
   * Creates the heap and maps its control page at the window's base.
   * @throws InvalidArgumentError for a window that is not page-aligned or too small.
   * @throws KernelPanic(OUT_OF_MEMORY) when the control page cannot be mapped (nothing is left mapped).
   */
  constructor(options: HeapOptions) {
    const windowPages = checkWindow(options.window);
    this.memory = options.memory;
    this.owners = options.owners ?? kernelOnlyOwners;
    this.kernelOnly = options.owners === undefined;
    this.debug = options.debug ?? false;
    this.redZone = this.debug ? RED_ZONE : 0;
    this.base = options.window.base;
    this.capacity = windowPages * PAGE;
    const format = options.formatAddress ?? formatCanonical48;
    const damage = (offset: number, detail: string) => this.panics.corruption(offset, detail);
    this.space = new HeapSpace(this.memory, options.frames, this.shadow, this.base, windowPages);
    this.slabs = new Slabs(this.memory, this.space, this.shadow, this.classes, damage, true, this.debug ? 0x6b : -1);
    this.large = new LargeBlocks(this.memory, this.space, this.shadow);
    const firstData = this.space.firstData;
    this.inspector = new Inspector(
      this.memory,
      this.base,
      this.shadow,
      this.classes,
      this.large,
      this.redZone,
      firstData,
    );
    this.panics = new HeapPanics({
      base: this.base,
      capacity: this.capacity,
      shadow: this.shadow,
      classes: this.classes,
      inspector: this.inspector,
      owners: this.owners,
      format,
      top: () => this.space.top * PAGE,
      operation: () => OPERATIONS[this.operation]!,
    });
    const scanner = new PatternScanner(this.memory);
    this.guard = this.debug ? new DebugGuard(this.memory, this.base, this.classes, this.slabs, scanner, damage) : null;
    if (this.guard !== null) {
      const guard = this.guard;
      this.slabs.checkFree = (c, h) => guard.checkPoison(c, h);
    }
    if (!this.space.mapControl()) {
      throw new KernelPanic("OUT_OF_MEMORY", "heap", "cannot map the heap's control page");
    }
    this.memory.fill(this.base, PAGE, 0);
    this.memory.write32(this.base + this.classes.count * CONTROL_ROW, CONTROL_MAGIC);
  }

  /**
   * Allocates `size` bytes, 16-byte aligned, tagged with the current owner. The memory is not zeroed.
   * kmalloc(0) returns a unique pointer to a minimal block (16 usable bytes), as liballoc and glibc do; kfree it
   * like any other.
   * @returns the pointer, or 0 when the window or the frame allocator cannot supply the memory (nothing changed).
   * @throws InvalidArgumentError when `size` is not a non-negative integer.
   * @throws KernelPanic(MEMORY_MANAGEMENT_ERROR) when the free lists, control page or descriptors were damaged.
   */
  kmalloc(size: number): VirtAddr {
    if (!(Number.isInteger(size) && size >= 0)) throw badSize("size", size);
    this.operation = 0;
    return this.allocate(size, this.currentOwner());
  }

  /**
   * Frees a block. kfree(0) does nothing.
   * @throws KernelPanic(MEMORY_MANAGEMENT_ERROR) when `pointer` is not a live block's pointer ("Invalid free
   *   detected", "Multiple free detected") or the block's header or (debug) red zone was overwritten ("Heap
   *   corruption detected"); nothing changes.
   * @throws InvalidArgumentError when `pointer` is not a non-negative integer.
   */
  kfree(pointer: VirtAddr): void {
    if (pointer === 0) return;
    this.operation = 1;
    const user = pointer - this.base;
    if (!(user >>> 0 === user && (user & 15) === 0 && user < this.space.top * PAGE && this.shadow.isLive(user))) {
      this.panics.badPointer(pointer, "kfree");
    }
    const kind = this.shadow.kinds[user >>> 12]!;
    if (kind === LARGE_KIND || this.guard !== null || this.liveBlocks === 1) {
      this.release(this.liveBlock(pointer, "kfree"));
      return;
    }
    // The hot path: the slab code checks the header it reads and returns -1 when it is damaged.
    const size = this.slabs.free(kind - 1, user - HEADER_SIZE, 0);
    if (size < 0) this.panics.headerDamage(this.inspector.at(user), "kfree");
    this.liveBytes -= size;
    this.frees++;
    this.liveBlocks--;
  }

  /**
   * Resizes a block, keeping its contents up to the smaller size. In place when it can: a slab block stays in its
   * slot while the new size fits it and fills more than half of it (or has no smaller class to go to); a large block
   * grows into its reserved room (pages mapped after it) and shrinks by unmapping its tail. Else it allocates, copies
   * and frees. krealloc(0, n) is kmalloc(n); krealloc(p, 0) frees p and returns 0. The block keeps its owner.
   * @returns the new pointer, or 0 when memory runs out (then `pointer` stays valid and unchanged).
   * @throws KernelPanic(MEMORY_MANAGEMENT_ERROR) for a pointer kfree would refuse; nothing changes.
   * @throws InvalidArgumentError when an argument is not a non-negative integer.
   */
  krealloc(pointer: VirtAddr, size: number): VirtAddr {
    if (!(Number.isInteger(size) && size >= 0)) throw badSize("size", size);
    this.operation = 2;
    if (pointer === 0) return this.allocate(size, this.currentOwner());
    const block = this.liveBlock(pointer, "krealloc");
    if (size === 0) {
      this.release(block);
      return 0;
    }
    if (this.resizeInPlace(block, size)) return pointer;
    // Check that the old block can be freed before allocating: a panic then leaves the heap as it was. Allocating
    // from another class (or pages) keeps what was checked valid; the sweep its slab may make due waits for a kfree.
    const release = this.prepareRelease(block, false);
    const moved = this.allocate(size, block.owner);
    if (moved === 0) return 0;
    this.memory.copy(moved, pointer, Math.min(block.size, size));
    this.finishRelease(block, release);
    return moved;
  }

  /**
   * Allocates `count * size` zeroed bytes.
   * @returns the pointer, or 0 when `count * size` overflows (exceeds 2^53 - 1, far beyond any heap) or memory runs
   *   out.
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
   * Allocates `size` bytes at an address that is a multiple of `alignment` (a power of two up to 2 MiB). Up to 16 it
   * is kmalloc (every pointer is 16-byte aligned); above, the block takes whole pages like a large block, at a
   * multiple of max(alignment, 4 KiB). Freed with kfree; krealloc keeps the alignment only while it resizes in place.
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
    this.operation = 3;
    if (alignment <= HEADER_SIZE) return this.allocate(size, this.currentOwner());
    return this.allocateLarge(size, this.currentOwner(), Math.max(1, alignment / PAGE));
  }

  /**
   * The size the caller asked for when it allocated `pointer`. Panics like kfree for anything but a live block, naming
   * a freed one "Use after free detected" and any other "Invalid pointer".
   */
  sizeOf(pointer: VirtAddr): number {
    return this.liveBlock(pointer, "sizeOf").size;
  }

  /** Usage figures; cheap (no walk). `mappedBytes = controlBytes + descriptorBytes + slabBytes + largeBytes`. */
  stats(): HeapStatistics {
    let slabPages = 0;
    let freeObjects = 0;
    for (let c = 0; c < this.classes.count; c++) {
      slabPages += this.slabs.slabs[c]! * this.classes.pages[c]!;
      freeObjects += this.slabs.listed[c]!;
    }
    return {
      mappedBytes: this.space.mappedPages * PAGE,
      liveBytes: this.liveBytes,
      liveBlocks: this.liveBlocks,
      peakMappedBytes: this.space.peakMappedPages * PAGE,
      peakLiveBytes: this.peakLiveBytes,
      controlBytes: PAGE,
      descriptorBytes: this.space.descriptorPages * PAGE,
      slabBytes: slabPages * PAGE,
      largeBytes: this.large.mappedPages * PAGE,
      freeObjects,
      quarantinedObjects: this.guard?.quarantine.length ?? 0,
      emptySlabBytes: this.slabs.emptyBytes,
      windowBytes: this.space.top * PAGE,
      frames: this.space.mappedPages,
      allocations: this.allocations,
      frees: this.frees,
      failures: this.failures,
    };
  }

  /** Every live block in address order. */
  blocks(): HeapBlockInfo[] {
    return blocks(this.reportContext());
  }

  /** Live blocks grouped by owner, largest total first: what a driver still holds when it is unloaded. */
  leaksByOwner(): OwnerUsage[] {
    return leaksByOwner(this.reportContext(), this.owners);
  }

  /**
   * Frees every live block of `owner` (a driver being unloaded) and returns what was freed.
   * @throws KernelPanic(MEMORY_MANAGEMENT_ERROR) if one of the blocks was damaged (nothing is freed then).
   * @throws InvalidArgumentError when `owner` is not an integer in [0, 2^31).
   */
  releaseOwner(owner: OwnerId): HeapBlockInfo[] {
    checkInteger("owner", owner, 0, 0x7fff_ffff);
    this.operation = 4;
    const mine: BlockFacts[] = [];
    this.shadow.forEachLive(this.space.top * PAGE, (user) => {
      const block = this.checked(this.inspector.at(user), "releaseOwner");
      if (block.owner === owner) mine.push(block);
    });
    const released = mine.map((block) => ({ address: this.base + block.user, size: block.size, owner }));
    if (mine.length === 0) return released;
    if (mine.length === this.liveBlocks) {
      this.releaseLast(mine);
      return released;
    }
    // Check every push the frees will make (in debug mode: the quarantined objects they push out) before the first.
    const pushes: number[] = [];
    const guard = this.guard;
    if (guard !== null) {
      // Each slab block freed while the quarantine is full pushes its oldest object out, in FIFO order.
      const held = mine.filter((block) => block.c >= 0);
      const out = Math.max(0, guard.quarantine.length + held.length - QUARANTINE_OBJECTS);
      guard.checkOldest(pushes, Math.min(out, guard.quarantine.length));
      for (let i = 0; pushes.length < out * 2; i++) pushes.push(held[i]!.c, held[i]!.header);
    } else {
      for (const block of mine) if (block.c >= 0) pushes.push(block.c, block.header);
    }
    this.slabs.preparePushes(pushes);
    // Checked; now the writes (a sweep these frees make due waits for a later kfree).
    for (const block of mine) this.finishRelease(block, this.prepareRelease(block, false));
    return released;
  }

  /**
   * Validates every structure: the control page, every slab's headers against the shadow and its descriptor's count,
   * every class's free list (each step bounded, every link a free slot of its class), every large block's header
   * against its mapped pages, the counters, and in debug mode every red zone and every poisoned free object.
   * Reports problems rather than throwing (never faulting or looping), unless `options.panic` is set, in which case
   * the first problem becomes a `KernelPanic(MEMORY_MANAGEMENT_ERROR)`.
   */
  heapCheck(options: { readonly panic?: boolean } = {}): HeapCheckReport {
    const report = checkHeap({
      memory: this.memory,
      base: this.base,
      classes: this.classes,
      shadow: this.shadow,
      space: this.space,
      slabs: this.slabs,
      large: this.large,
      inspector: this.inspector,
      guard: this.guard,
      redZone: this.redZone,
      liveBlocks: this.liveBlocks,
      liveBytes: this.liveBytes,
      describe: (block) => this.panics.describe(block),
    });
    if (options.panic && !report.ok) {
      throw new KernelPanic("MEMORY_MANAGEMENT_ERROR", "heap", `heapCheck: ${report.problems[0]!.message}`);
    }
    return report;
  }

  /** One row per cache (`kmalloc-16` ... `kmalloc-32k`, `kmalloc-large`), as `/proc/slabinfo` shows them. No walk. */
  slabinfo(): SlabinfoRow[] {
    return slabinfo(this.classes, this.slabs, this.large, this.guard);
  }

  // --- allocation -------------------------------------------------------------------------------------------------

  private allocate(size: number, owner: OwnerId): VirtAddr {
    const need = size + this.redZone;
    if (need > MAX_SLAB_SIZE) return this.allocateLarge(size, owner, 1);
    const c = this.classes.of(need);
    if (this.guard !== null) this.guard.checkHead(c);
    const h = this.slabs.allocate(c, size, owner);
    if (h < 0) return this.fail();
    this.counted(size);
    const pointer = this.base + h + HEADER_SIZE;
    if (this.guard !== null) this.guard.paint(pointer, 0, size, this.classes.user[c]!);
    return pointer;
  }

  /** A block of whole pages at a multiple of `align` pages. */
  private allocateLarge(size: number, owner: OwnerId, align: number): VirtAddr {
    if (size >= this.capacity) return this.fail(); // also keeps the size within its 32-bit header word
    const page = this.large.allocate(size, this.redZone, align, owner);
    if (page < 0) return this.fail();
    this.counted(size);
    const pointer = this.base + page * PAGE;
    if (this.guard !== null) this.guard.paint(pointer, 0, size, this.large.mapped(page) * PAGE);
    return pointer;
  }

  /** Resizes `block` in place when the rules in krealloc's contract allow; false (nothing changed) otherwise. */
  private resizeInPlace(block: BlockFacts, size: number): boolean {
    const need = size + this.redZone;
    if (block.c >= 0) {
      // A block shrunk to half its slot or less moves to a smaller class (if there is one).
      if (need > block.capacity || (need * 2 <= block.capacity && this.classes.of(need) !== block.c)) return false;
      const at = this.base + block.header;
      this.memory.write32(at + SIZE, size);
      this.memory.write32(at + LINK, sealOf(size, block.owner, block.header));
    } else if (need <= MAX_SLAB_SIZE || !this.large.resize(block.user / PAGE, size, this.redZone, block.owner)) {
      return false;
    }
    this.liveBytes += size - block.size;
    if (this.liveBytes > this.peakLiveBytes) this.peakLiveBytes = this.liveBytes;
    if (this.guard !== null) {
      const capacity = block.c >= 0 ? block.capacity : this.large.mapped(block.user / PAGE) * PAGE;
      this.guard.paint(this.base + block.user, Math.min(size, block.size), size, capacity);
    }
    return true;
  }

  private counted(size: number): void {
    this.liveBlocks++;
    this.liveBytes += size;
    if (this.liveBytes > this.peakLiveBytes) this.peakLiveBytes = this.liveBytes;
    this.allocations++;
  }

  private fail(): VirtAddr {
    this.failures++;
    return 0;
  }

  // --- freeing ----------------------------------------------------------------------------------------------------

  /** Frees live block `block`, whose header (and red zone) {@link liveBlock} checked; checks all else first. */
  private release(block: BlockFacts): void {
    if (this.liveBlocks === 1) this.releaseLast([block]);
    else this.finishRelease(block, this.prepareRelease(block, true));
  }

  /**
   * Checks, writing nothing, everything freeing `block` (not the last live block) will touch: its list head and slab
   * descriptor, or in debug mode the quarantined object it pushes out (poison, tag, list head, descriptor), and with
   * `sweep` the sweep that push would make due. Returns what {@link finishRelease} needs.
   */
  private prepareRelease(block: BlockFacts, sweep: boolean): PreparedRelease {
    if (block.c < 0) return NOTHING_PREPARED;
    const guard = this.guard;
    if (guard === null) return { oldest: null, plan: this.slabs.prepare(block.c, block.header, false, sweep) };
    if (!guard.full()) return NOTHING_PREPARED;
    const oldest = guard.quarantine.oldest()!;
    return { oldest, plan: this.slabs.prepare(oldest.c, oldest.h, true, sweep) };
  }

  /** Frees `block` as {@link prepareRelease} checked: writes only. */
  private finishRelease(block: BlockFacts, prepared: PreparedRelease): void {
    const guard = this.guard;
    if (block.c < 0) this.large.free(block.user / PAGE);
    else if (guard === null) this.slabs.push(block.c, block.header, prepared.plan);
    else {
      this.slabs.quarantine(block.c, block.header);
      guard.hold(block.c, block.header);
      if (prepared.oldest !== null) {
        this.slabs.push(prepared.oldest.c, prepared.oldest.h, prepared.plan);
        guard.dropOldest();
      }
    }
    this.liveBytes -= block.size;
    this.frees++;
    this.liveBlocks--;
  }

  /**
   * Frees `blocks`, the last live blocks: every slab goes back (and the quarantine with them), so the heap returns to
   * its control page. Everything is checked first (the quarantined objects, every list and descriptor, and in debug
   * mode every free object's poison), then written.
   */
  private releaseLast(blocks: readonly BlockFacts[]): void {
    const pending: number[] = [];
    this.guard?.checkOldest(pending);
    for (const block of blocks) if (block.c >= 0) pending.push(block.c, block.header);
    const plan = this.slabs.plan(true, pending);
    for (const block of blocks) {
      if (block.c < 0) this.large.free(block.user / PAGE);
      else this.shadow.clearLive(block.user);
      this.liveBytes -= block.size;
      this.frees++;
      this.liveBlocks--;
    }
    this.guard?.clear();
    this.slabs.commit(plan);
  }

  // --- validation -------------------------------------------------------------------------------------------------

  /** The live block at `pointer` with its header (and red zone) checked, or the panic that says why not. */
  private liveBlock(pointer: VirtAddr, operation: string): BlockFacts {
    const user = pointer - this.base;
    if (!(user >>> 0 === user && (user & 15) === 0 && user < this.space.top * PAGE && this.shadow.isLive(user))) {
      this.panics.badPointer(pointer, operation);
    }
    return this.checked(this.inspector.at(user), operation);
  }

  /** `block` if its header (and in debug mode its red zone) is intact; else the panic naming the damage. */
  private checked(block: BlockFacts, operation: string): BlockFacts {
    if (!block.intact) this.panics.headerDamage(block, operation);
    if (this.guard !== null) {
      const bad = this.guard.redZoneDamage(this.base + block.user, block.size, block.capacity);
      if (bad >= 0) this.panics.overflow(block, operation, bad - this.base - block.user, this.memory.read8(bad));
    }
    return block;
  }

  private reportContext() {
    return { base: this.base, shadow: this.shadow, inspector: this.inspector, top: this.space.top * PAGE };
  }

  private currentOwner(): OwnerId {
    if (this.kernelOnly) return KERNEL_OWNER;
    const owner = this.owners.current();
    if ((owner | 0) !== owner || owner < 0) {
      throw new InvalidArgumentError("owners.current()", owner, "an owner id must be an integer in [0, 2^31)");
    }
    return owner;
  }
}
