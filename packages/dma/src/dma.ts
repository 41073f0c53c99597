import {
  type Arch,
  alignDown,
  checkInteger,
  checkPhysAddr,
  checkSize,
  type DmaApi,
  type DmaMappingInfo,
  type FrameAllocator,
  formatHex,
  InvalidArgumentError,
  isPowerOfTwo,
  KernelPanic,
  kernelOnlyOwners,
  type MapResult,
  MemoryType,
  type MemoryTypeValue,
  memoryTypeName,
  type OwnerContext,
  type OwnerId,
  type PhysAddr,
  type Protection,
  type VirtAddr,
  type VirtualWindow,
} from "@ksim/core";
import { DmaError } from "./errors.js";
import { RangeAllocator } from "./range-allocator.js";

/** What the DMA/MMIO layer needs from an architecture: any full {@link Arch} provides it. */
export type DmaArch = Pick<Arch, "pageSize" | "physicalAddressBits" | "layout" | "memory" | "formatAddress">;

/** Construction options of {@link Dma}. */
export interface DmaOptions {
  /** The architecture: its layout gives the windows, its `memory` maps and zeroes pages. */
  readonly arch: DmaArch;
  /** Where DMA buffers' frames come from; also tells RAM (which MMIO must not map) from device memory. */
  readonly frames: FrameAllocator;
  /** Who owns what gets allocated (the driver loader sets it around driver calls). Default: the kernel. */
  readonly owners?: OwnerContext;
  /**
   * Leave one unmapped page after every buffer and mapping, so that running off the end page-faults instead of
   * scribbling over a neighbour. Costs only virtual space. Default true.
   */
  readonly guardPages?: boolean;
  /** Windows to use instead of `arch.layout.dma` and `arch.layout.mmio` (page-aligned, not overlapping). */
  readonly windows?: { readonly dma?: VirtualWindow; readonly mmio?: VirtualWindow };
}

/** A DMA buffer request for {@link Dma.allocateDMA}: what the C call cannot say. */
export interface DmaRequest {
  /** Bytes wanted (rounded up to whole pages). */
  readonly size: number;
  /** Alignment of the buffer's physical (and virtual) start: a power of two. Default the page size. */
  readonly align?: number;
  /** A power of two (at least `size`) that the buffer must not cross, e.g. 64 KiB for ISA DMA, 2^32. Default none. */
  readonly boundary?: number;
  /** The buffer must end at or below this physical address, e.g. 2^32 for a 32-bit device. Default none. */
  readonly limit?: PhysAddr;
}

/** Why an allocation or mapping could not be made; nothing was changed by it. */
export type DmaFailureReason =
  /** No free range of the DMA or MMIO window is large enough. */
  | "window-full"
  /** The frame allocator has too few free frames (for the buffer or for a page table). */
  | "out-of-memory"
  /** Enough free frames, but no contiguous run meets the alignment, boundary and limit. */
  | "no-fit";

/**
 * The result of {@link Dma.allocateDMA}: the buffer's virtual and bus (physical) addresses, and its usable size
 * (the request rounded up to whole pages).
 */
export type DmaAllocation =
  | { readonly ok: true; readonly virt: VirtAddr; readonly phys: PhysAddr; readonly size: number }
  | { readonly ok: false; readonly reason: DmaFailureReason; readonly message: string };

/** An MMIO mapping request for {@link Dma.mapMMIO}. */
export interface MmioRequest {
  /** Physical address of the device range; need not be page-aligned (the offset is kept). */
  readonly phys: PhysAddr;
  readonly size: number;
  /** UC (the default), UC-, WT, or WC for framebuffers. Cacheable types (WB, WP) are refused. */
  readonly memoryType?: MemoryTypeValue;
}

/** The result of {@link Dma.mapMMIO}: `virt` is the virtual address of `phys` itself; `size` is as requested. */
export type MmioMapping =
  | { readonly ok: true; readonly virt: VirtAddr; readonly phys: PhysAddr; readonly size: number }
  | { readonly ok: false; readonly reason: "window-full" | "out-of-memory"; readonly message: string };

/** A live DMA buffer or MMIO mapping, as {@link Dma.mappings} lists it. */
export interface DmaMapping extends DmaMappingInfo {
  /** Bytes actually mapped: whole pages, from the page holding `virt`. */
  readonly mappedSize: number;
  readonly memoryType: MemoryTypeValue;
  /** The owner's readable name, from the owner context. */
  readonly ownerName: string;
}

/** Usage of one window. */
export interface WindowUsage {
  readonly window: VirtualWindow;
  /** Live buffers or mappings. */
  readonly count: number;
  /** Bytes mapped (guard pages excluded): what mem_getDMAUsage / mem_getMMIOUsage report. */
  readonly mappedBytes: number;
  /** Bytes of the window taken, guard pages included. */
  readonly reservedBytes: number;
  /** The largest request (guard page included) that could still get virtual space. */
  readonly largestFree: number;
}

type Kind = "dma" | "mmio";

/** Book-keeping of one live buffer or mapping. */
interface Live {
  readonly kind: Kind;
  /** What the allocating call returned. */
  readonly virt: VirtAddr;
  /** First mapped page. */
  readonly base: VirtAddr;
  /** The buffer's first frame, or the physical address asked to map. */
  readonly phys: PhysAddr;
  /** The size the caller asked for. */
  readonly size: number;
  readonly pages: number;
  readonly memoryType: MemoryTypeValue;
  readonly owner: OwnerId;
}

/** How many recently released addresses are remembered, so a second release can be named a double free. */
const RELEASE_HISTORY = 1024;
const MMIO_TYPES: readonly MemoryTypeValue[] = [MemoryType.UC, MemoryType.UC_MINUS, MemoryType.WC, MemoryType.WT];

/**
 * The seed's DMA and MMIO calls (implements `DmaApi` of `@ksim/core`), without the original's leaks:
 * - `mem_allocateDMA` takes physically contiguous frames, maps them kernel-only, non-executable and uncacheable in
 *   the DMA window, zeroes them through that mapping, and returns the virtual address; `mem_freeDMA` unmaps (the
 *   architecture keeps the TLB coherent), gives the frames back and releases the virtual range;
 * - `mem_mapMMIO` maps a device's physical range uncacheable in the MMIO window and returns the virtual address of
 *   `phys` itself; `mem_unmapMMIO` unmaps it.
 *
 * Bad input (NaN, negative, fractional or zero sizes, a release that does not match a live buffer or mapping,
 * a double release, RAM passed to mem_mapMMIO) throws `InvalidArgumentError` or {@link DmaError} and changes
 * nothing. Exhaustion of the window or of frames returns 0 from the C calls and `{ ok: false }` from the
 * TypeScript ones, with every frame and page table given back.
 */
export class Dma implements DmaApi {
  readonly arch: DmaArch;
  readonly frames: FrameAllocator;
  readonly owners: OwnerContext;
  readonly dmaWindow: VirtualWindow;
  readonly mmioWindow: VirtualWindow;
  readonly guardPages: boolean;

  readonly #page: number;
  readonly #dmaRanges: RangeAllocator;
  readonly #mmioRanges: RangeAllocator;
  /** Live buffers and mappings by first mapped page. Not a hot path: one lookup per allocate or free. */
  readonly #live = new Map<VirtAddr, Live>();
  /** First pages of the last {@link RELEASE_HISTORY} releases (a ring; read only to name a double free). */
  readonly #released = new Float64Array(RELEASE_HISTORY).fill(-1);
  readonly #releasedKind = new Uint8Array(RELEASE_HISTORY);
  #releasedNext = 0;
  #dmaBytes = 0;
  #mmioBytes = 0;

  /**
   * @throws InvalidArgumentError when a window is empty, not page-aligned, or the two overlap.
   */
  constructor(options: DmaOptions) {
    this.arch = options.arch;
    this.frames = options.frames;
    this.owners = options.owners ?? kernelOnlyOwners;
    this.guardPages = options.guardPages ?? true;
    this.#page = options.arch.pageSize;
    this.dmaWindow = options.windows?.dma ?? options.arch.layout.dma;
    this.mmioWindow = options.windows?.mmio ?? options.arch.layout.mmio;
    const d = this.dmaWindow;
    const m = this.mmioWindow;
    if (d.base < m.base + m.size && m.base < d.base + d.size) {
      throw new InvalidArgumentError("windows", `${d.name}/${m.name}`, "the DMA and MMIO windows overlap");
    }
    // The range allocators validate base and size (page multiples, non-empty).
    this.#dmaRanges = new RangeAllocator(d.base, d.size, { granule: this.#page });
    this.#mmioRanges = new RangeAllocator(m.base, m.size, { granule: this.#page });
  }

  // --- the C calls ------------------------------------------------------------------------------------------

  /**
   * uintptr_t mem_allocateDMA(size_t size): a zeroed, physically contiguous, uncacheable kernel buffer of at
   * least `size` bytes. Its bus address is `mem_getPhysicalAddress(NULL, virt)`.
   * @returns the virtual address, or 0 when the DMA window or the frame allocator is exhausted (nothing leaked).
   * @throws InvalidArgumentError for a size that is 0, NaN, negative or fractional.
   */
  mem_allocateDMA(size: number): VirtAddr {
    const result = this.allocateDMA({ size });
    return result.ok ? result.virt : 0;
  }

  /**
   * void mem_freeDMA(uintptr_t base, uintptr_t size): unmaps the buffer, gives its frames back and releases its
   * virtual range. `base` must be what mem_allocateDMA returned and `size` must cover the same pages (the size
   * asked for, or that rounded up to pages). A `base` of 0 does nothing, like `free(NULL)`.
   * @throws InvalidArgumentError for malformed numbers, {@link DmaError} for anything that is not a live buffer
   * (double free, interior pointer, wrong size, outside the window). Nothing is changed then.
   */
  mem_freeDMA(base: VirtAddr, size: number): void {
    checkInteger("base", base);
    checkInteger("size", size);
    if (base === 0) return;
    checkSize("size", size);
    const live = this.#find("dma", "mem_freeDMA", base, size);
    const bytes = live.pages * this.#page;
    // The frames go first: it is the one step that can object (if someone freed them behind our back).
    this.frames.free(live.phys, live.pages);
    this.arch.memory.unmap(live.base, bytes);
    this.#dmaRanges.free(live.base, bytes + this.#guard());
    this.#dmaBytes -= bytes;
    this.#forget(live);
  }

  /**
   * uintptr_t mem_mapMMIO(uintptr_t phys, size_t size): maps `[phys, phys + size)` uncacheable (UC), kernel-only
   * and non-executable in the MMIO window.
   * @returns the virtual address of `phys` itself (the offset within its page is kept), or 0 when the MMIO window
   * or the frames for page tables are exhausted (nothing leaked).
   * @throws InvalidArgumentError for malformed numbers or a range beyond the physical address width;
   * {@link DmaError} (`managed-ram`) when the range includes RAM that the frame allocator manages.
   */
  mem_mapMMIO(phys: PhysAddr, size: number): VirtAddr {
    const result = this.mapMMIO({ phys, size });
    return result.ok ? result.virt : 0;
  }

  /**
   * mem_mapMMIO with write-combining (PAT WC): for framebuffers, where the CPU may merge and reorder writes.
   * Same contract as {@link mem_mapMMIO}.
   */
  mem_mapMMIOWriteCombine(phys: PhysAddr, size: number): VirtAddr {
    const result = this.mapMMIO({ phys, size, memoryType: MemoryType.WC });
    return result.ok ? result.virt : 0;
  }

  /**
   * void mem_unmapMMIO(uintptr_t virt, uintptr_t size): removes a mapping made by mem_mapMMIO. `virt` must be
   * what mem_mapMMIO returned and `size` must cover the same pages from it. A `virt` of 0 does nothing.
   * @throws InvalidArgumentError or {@link DmaError} as {@link mem_freeDMA} does; nothing is changed then.
   */
  mem_unmapMMIO(virt: VirtAddr, size: number): void {
    checkInteger("virt", virt);
    checkInteger("size", size);
    if (virt === 0) return;
    checkSize("size", size);
    const live = this.#find("mmio", "mem_unmapMMIO", virt, size);
    const bytes = live.pages * this.#page;
    this.arch.memory.unmap(live.base, bytes);
    this.#mmioRanges.free(live.base, bytes + this.#guard());
    this.#mmioBytes -= bytes;
    this.#forget(live);
  }

  /** Bytes of DMA buffers mapped now (whole pages; guard pages not counted). */
  mem_getDMAUsage(): number {
    return this.#dmaBytes;
  }

  /** Bytes of MMIO mapped now (whole pages; guard pages not counted). */
  mem_getMMIOUsage(): number {
    return this.#mmioBytes;
  }

  // --- the TypeScript API -----------------------------------------------------------------------------------

  /**
   * Allocates a DMA buffer with the constraints a device may have: alignment, a boundary it must not cross, and a
   * highest physical address. The buffer is zeroed, uncacheable, kernel-only and non-executable.
   * @returns `{ ok: true, virt, phys, size }` (size rounded up to pages), or `{ ok: false, reason }` when the window
   * or the frames run out or no run meets the constraints; nothing is leaked then.
   * @throws InvalidArgumentError for malformed input: a size that is 0, NaN, negative or fractional; an alignment
   * or boundary that is not a power of two; a boundary smaller than the size; a limit below the size or beyond
   * the physical address width.
   */
  allocateDMA(request: DmaRequest): DmaAllocation {
    const size = checkSize("size", request.size);
    const page = this.#page;
    if (request.align !== undefined && !isPowerOfTwo(request.align)) {
      throw new InvalidArgumentError("align", request.align, "not a power of two");
    }
    // Alignments below a page are met by every page.
    const align = Math.max(request.align ?? page, page);
    const pages = Math.ceil(size / page);
    const bytes = pages * page;
    const boundary = request.boundary ?? 0;
    if (request.boundary !== undefined) {
      if (!isPowerOfTwo(boundary)) throw new InvalidArgumentError("boundary", boundary, "not a power of two");
      if (boundary < size) {
        throw new InvalidArgumentError(
          "boundary",
          boundary,
          `smaller than the size ${size}: the buffer would cross it`,
        );
      }
    }
    const physLimit = 2 ** this.arch.physicalAddressBits;
    const limit = request.limit ?? physLimit;
    if (request.limit !== undefined) {
      checkInteger("limit", limit, 1, physLimit);
      if (limit < bytes) throw new InvalidArgumentError("limit", limit, `below the buffer size ${bytes}`);
    }

    const virt = this.#dmaRanges.allocate(bytes + this.#guard(), align);
    if (virt < 0) return this.#windowFull(this.dmaWindow, bytes);
    // Frames: a boundary at or below a page is met by any page-aligned run of size <= boundary.
    const frames = this.#allocateFrames(pages, align, boundary > page ? boundary : 0, limit);
    if (!frames.ok) {
      this.#dmaRanges.free(virt, bytes + this.#guard());
      return frames;
    }
    const phys = frames.address;
    const mapped = this.#map(virt, phys, bytes, MemoryType.UC);
    if (!mapped.ok) {
      this.frames.free(phys, pages);
      this.#dmaRanges.free(virt, bytes + this.#guard());
      return this.#mapFailure(mapped, `mem_allocateDMA(${size})`);
    }
    // Zeroed through the new mapping, as the kernel would: frames may hold a previous owner's data.
    this.arch.memory.fill(virt, bytes, 0);
    this.#remember({
      kind: "dma",
      virt,
      base: virt,
      phys,
      size,
      pages,
      memoryType: MemoryType.UC,
      owner: this.owners.current(),
    });
    this.#dmaBytes += bytes;
    return { ok: true, virt, phys, size: bytes };
  }

  /**
   * Maps a device's physical range in the MMIO window with the memory type asked for (UC by default; WC for
   * framebuffers), kernel-only and non-executable.
   * @returns `{ ok: true, virt, phys, size }` where `virt` maps `phys` itself, or `{ ok: false, reason }` when
   * the window or the frames for page tables run out (nothing leaked).
   * @throws InvalidArgumentError for malformed numbers, a range beyond the physical address width, or a cacheable
   * memory type; {@link DmaError} (`managed-ram`) when the range includes RAM the frame allocator manages.
   */
  mapMMIO(request: MmioRequest): MmioMapping {
    const phys = checkPhysAddr("phys", request.phys);
    const size = checkSize("size", request.size);
    const memoryType = request.memoryType ?? MemoryType.UC;
    if (!(Object.values(MemoryType) as unknown[]).includes(memoryType)) {
      throw new InvalidArgumentError("memoryType", memoryType, "not a memory type (see MemoryType)");
    }
    if (!MMIO_TYPES.includes(memoryType)) {
      throw new InvalidArgumentError(
        "memoryType",
        memoryType,
        "MMIO must not be cached: use UC, UC-, WT or WC (write-combining, for framebuffers)",
      );
    }
    const physLimit = 2 ** this.arch.physicalAddressBits;
    if (phys + size > physLimit) {
      throw new InvalidArgumentError(
        "size",
        size,
        `range from ${formatHex(phys)} ends beyond the ${this.arch.physicalAddressBits}-bit physical address space`,
      );
    }
    const page = this.#page;
    const first = alignDown(phys, page);
    const offset = phys - first;
    const pages = Math.ceil((offset + size) / page);
    const bytes = pages * page;
    // Virtual space first: a request larger than the window fails here without a page-by-page RAM check.
    const base = this.#mmioRanges.allocate(bytes + this.#guard(), page);
    if (base < 0) return this.#windowFull(this.mmioWindow, bytes);
    for (let frame = first; frame < first + bytes; frame += page) {
      if (this.frames.isManaged(frame)) {
        this.#mmioRanges.free(base, bytes + this.#guard());
        throw new DmaError(
          "managed-ram",
          phys,
          `mem_mapMMIO(${formatHex(phys)}, ${size}): ${formatHex(frame)} is RAM managed by the frame allocator, ` +
            "not device memory; use mem_allocateDMA for a buffer a device can reach",
        );
      }
    }
    const mapped = this.#map(base, first, bytes, memoryType);
    if (!mapped.ok) {
      this.#mmioRanges.free(base, bytes + this.#guard());
      return this.#mapFailure(mapped, `mem_mapMMIO(${formatHex(phys)}, ${size})`);
    }
    const virt = base + offset;
    this.#remember({ kind: "mmio", virt, base, phys, size, pages, memoryType, owner: this.owners.current() });
    this.#mmioBytes += bytes;
    return { ok: true, virt, phys, size };
  }

  /** Every live DMA buffer and MMIO mapping, in address order, optionally only those of one owner. */
  mappings(owner?: OwnerId): DmaMapping[] {
    const out: DmaMapping[] = [];
    for (const live of this.#live.values()) {
      if (owner === undefined || live.owner === owner) out.push(this.#describe(live));
    }
    return out.sort((a, b) => a.virt - b.virt);
  }

  /**
   * Frees every DMA buffer and unmaps every MMIO mapping that `owner` still holds (a driver being unloaded).
   * @returns what was released, as {@link mappings} listed it.
   */
  releaseOwner(owner: OwnerId): DmaMapping[] {
    const held = this.mappings(owner);
    for (const m of held) {
      if (m.kind === "dma") this.mem_freeDMA(m.virt, m.size);
      else this.mem_unmapMMIO(m.virt, m.size);
    }
    return held;
  }

  /**
   * The live buffers and mappings as text, one per line, in the kernel's printed address form:
   * `DMA  0xFFFFF80000000000-0xFFFFF80000001FFF -> 0x0000000000123000 UC  8192 bytes  kernel`.
   */
  formatMappings(owner?: OwnerId): string {
    return this.mappings(owner)
      .map((m) => {
        const base = alignDown(m.virt, this.#page);
        const range = `${this.arch.formatAddress(base)}-${this.arch.formatAddress(base + m.mappedSize - 1)}`;
        const phys = formatHex(m.phys, 16);
        return `${m.kind === "dma" ? "DMA " : "MMIO"} ${range} -> ${phys} ${memoryTypeName(m.memoryType).padEnd(3)} ${m.size} bytes  ${m.ownerName}`;
      })
      .join("\n");
  }

  /** Usage of both windows, for `/proc/meminfo`-style reports. */
  usage(): { readonly dma: WindowUsage; readonly mmio: WindowUsage } {
    let dmaCount = 0;
    for (const live of this.#live.values()) if (live.kind === "dma") dmaCount++;
    const window = (w: VirtualWindow, r: RangeAllocator, count: number, mappedBytes: number): WindowUsage => ({
      window: w,
      count,
      mappedBytes,
      reservedBytes: r.usedBytes,
      largestFree: r.largestFreeExtent,
    });
    return {
      dma: window(this.dmaWindow, this.#dmaRanges, dmaCount, this.#dmaBytes),
      mmio: window(this.mmioWindow, this.#mmioRanges, this.#live.size - dmaCount, this.#mmioBytes),
    };
  }

  // --- inside -----------------------------------------------------------------------------------------------

  #guard(): number {
    return this.guardPages ? this.#page : 0;
  }

  /**
   * Contiguous frames for a buffer. A boundary is first left to luck (most runs do not cross one); if the run
   * crosses, it is given back and taken again aligned to the buffer's size rounded up to a power of two, which
   * cannot cross a power-of-two boundary at least that large.
   */
  #allocateFrames(
    pages: number,
    align: number,
    boundary: number,
    limit: number,
  ): { ok: true; address: PhysAddr } | { ok: false; reason: DmaFailureReason; message: string } {
    const bytes = pages * this.#page;
    if (pages === 1 && align === this.#page && limit >= 2 ** this.arch.physicalAddressBits) {
      // The common case, one unconstrained frame, takes the allocator's hot path.
      const frame = this.frames.allocFrame();
      if (frame !== 0) return { ok: true, address: frame };
      return { ok: false, reason: "out-of-memory", message: "mem_allocateDMA: no free frame" };
    }
    let result = this.frames.allocate({ count: pages, align, limit });
    if (result.ok && boundary !== 0 && crosses(result.address, bytes, boundary)) {
      this.frames.free(result.address, pages);
      result = this.frames.allocate({ count: pages, align: Math.max(align, 2 ** Math.ceil(Math.log2(bytes))), limit });
    }
    if (result.ok) return { ok: true, address: result.address };
    return { ok: false, reason: result.reason, message: `mem_allocateDMA: ${pages} frame(s): ${result.message}` };
  }

  /** Maps kernel-only, non-executable, global pages of the given memory type (all or nothing). */
  #map(virt: VirtAddr, phys: PhysAddr, bytes: number, memoryType: MemoryTypeValue): MapResult {
    const protection: Protection = { writable: true, user: false, executable: false, memoryType, global: true };
    return this.arch.memory.map(virt, phys, bytes, protection);
  }

  /**
   * What a failed map means, once the caller has rolled back: no frame for a page table is exhaustion;
   * a page already mapped inside a window this layer alone manages is corruption, a kernel panic.
   */
  #mapFailure(
    result: MapResult & { ok: false },
    call: string,
  ): { ok: false; reason: "out-of-memory"; message: string } {
    if (result.reason === "already-mapped") {
      throw new KernelPanic(
        "MEMORY_MANAGEMENT_ERROR",
        "dma",
        `${call}: ${this.arch.formatAddress(result.address)} in the DMA/MMIO windows is mapped by someone else ` +
          `(${result.message})`,
      );
    }
    return { ok: false, reason: "out-of-memory", message: `${call}: no frame for a page table (${result.message})` };
  }

  #windowFull(window: VirtualWindow, bytes: number): { ok: false; reason: "window-full"; message: string } {
    return {
      ok: false,
      reason: "window-full",
      message: `the ${window.name} window has no free range of ${bytes + this.#guard()} bytes`,
    };
  }

  #remember(live: Live): void {
    this.#live.set(live.base, live);
  }

  #forget(live: Live): void {
    this.#live.delete(live.base);
    this.#released[this.#releasedNext] = live.base;
    this.#releasedKind[this.#releasedNext] = live.kind === "dma" ? 0 : 1;
    this.#releasedNext = (this.#releasedNext + 1) % RELEASE_HISTORY;
  }

  /** Whether a buffer (or mapping) of `kind` starting at page `base` was released recently. */
  #wasReleased(kind: Kind, base: VirtAddr): boolean {
    const k = kind === "dma" ? 0 : 1;
    for (let i = 0; i < RELEASE_HISTORY; i++) {
      if (this.#released[i] === base && this.#releasedKind[i] === k) return true;
    }
    return false;
  }

  /** The live buffer or mapping that `virt` and `size` name exactly; otherwise throws a DmaError saying why. */
  #find(kind: Kind, call: string, virt: VirtAddr, size: number): Live {
    const window = kind === "dma" ? this.dmaWindow : this.mmioWindow;
    const page = this.#page;
    const base = alignDown(virt, page);
    const live = virt >= window.base && virt < window.base + window.size ? this.#live.get(base) : undefined;
    if (live !== undefined && live.virt === virt && live.kind === kind) {
      if (Math.ceil((virt - base + size) / page) === live.pages) return live;
    }
    throw this.#whyNot(kind, call, virt, size);
  }

  /** The error for a release that names no live buffer or mapping exactly (the slow path, messages built here). */
  #whyNot(kind: Kind, call: string, virt: VirtAddr, size: number): DmaError {
    const what = kind === "dma" ? "DMA buffer" : "MMIO mapping";
    const window = kind === "dma" ? this.dmaWindow : this.mmioWindow;
    const fmt = (v: number) => this.arch.formatAddress(v);
    const head = `${call}(${fmt(virt)}, ${size})`;
    if (virt < window.base || virt >= window.base + window.size) {
      return new DmaError(
        "outside-window",
        virt,
        `${head}: not in the ${window.name} window [${fmt(window.base)}, ${fmt(window.base + window.size)})`,
      );
    }
    const page = this.#page;
    const base = alignDown(virt, page);
    const live = this.#live.get(base);
    if (live !== undefined && live.virt === virt) {
      const pages = Math.ceil((virt - base + size) / page);
      return new DmaError(
        "size-mismatch",
        virt,
        `${head}: the ${what} there is ${live.size} bytes (${live.pages} page(s)); ${size} bytes cover ${pages}`,
      );
    }
    for (const other of this.#live.values()) {
      if (other.kind === kind && virt >= other.base && virt < other.base + other.pages * page) {
        return new DmaError(
          "interior-pointer",
          virt,
          `${head}: points inside the ${what} at ${fmt(other.virt)} (${other.size} bytes); pass ${fmt(other.virt)}`,
        );
      }
    }
    if (this.#wasReleased(kind, base)) {
      return new DmaError("double-free", virt, `${head}: the ${what} at this address was released already`);
    }
    return new DmaError("not-allocated", virt, `${head}: no ${what} was made at this address`);
  }

  #describe(live: Live): DmaMapping {
    return {
      kind: live.kind,
      virt: live.virt,
      phys: live.phys,
      size: live.size,
      owner: live.owner,
      mappedSize: live.pages * this.#page,
      memoryType: live.memoryType,
      ownerName: this.owners.nameOf(live.owner),
    };
  }
}

/** True when `[address, address + bytes)` crosses a multiple of `boundary`. */
function crosses(address: number, bytes: number, boundary: number): boolean {
  return Math.floor(address / boundary) !== Math.floor((address + bytes - 1) / boundary);
}
