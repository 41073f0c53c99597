import {
  checkPhysAddr,
  checkSize,
  formatHex,
  InvalidArgumentError,
  type MemoryBacking,
  type MmioHandler,
  type MmioRegion,
  type MmioRegionSpec,
  PHYS_ADDRESS_LIMIT,
  type PhysAddr,
  type PhysicalAddressMap,
} from "@ksim/core";
import { type PhysicalLayout, ramRanges } from "./layout.js";

/** A device window in the map. Its fields other than the `MmioRegion` ones are for the memory bus. */
export class Region implements MmioRegion {
  readonly name: string;
  readonly size: number;
  readonly kind: "registers" | "ram";
  /** Device memory of a RAM-like region (null for registers). */
  readonly bytes: Uint8Array | null;
  /** DataView over `bytes` (null for registers). */
  readonly view: DataView | null;
  readonly handler: MmioHandler | null;
  #base: PhysAddr;
  #backing: MemoryBacking;
  #map: AddressMap | null;

  /** Internal: use {@link AddressMap.addRegion}. */
  constructor(map: AddressMap, base: PhysAddr, size: number, spec: MmioRegionSpec) {
    this.name = spec.name;
    this.size = size;
    this.kind = spec.kind;
    if (spec.kind === "ram") {
      this.bytes = spec.bytes;
      this.view = new DataView(spec.bytes.buffer, spec.bytes.byteOffset, spec.bytes.byteLength);
      this.handler = null;
    } else {
      this.bytes = null;
      this.view = null;
      this.handler = spec.handler;
    }
    this.#base = base;
    this.#backing = this.makeBacking();
    this.#map = map;
  }

  get base(): PhysAddr {
    return this.#base;
  }

  /** One past the last address. */
  get end(): PhysAddr {
    return this.#base + this.size;
  }

  /** True until {@link remove} succeeds. */
  get attached(): boolean {
    return this.#map !== null;
  }

  /** What `backing()` reports for addresses in this region. */
  get backing(): MemoryBacking {
    return this.#backing;
  }

  /**
   * Moves the region to `base` (a BAR was reprogrammed); contents of a RAM-like region move with it.
   * @throws InvalidArgumentError, changing nothing, if `base` is not a physical address, the region would run past
   *   2^52 or overlap RAM or another region, or the region was removed.
   */
  moveTo(base: PhysAddr): void {
    const map = this.requireMap();
    checkPhysAddr("base", base);
    map.checkFree(base, this.size, this);
    this.#base = base;
    this.#backing = this.makeBacking();
    map.reindex();
  }

  /**
   * Takes the region out of the map; its addresses become unbacked (or free for another region).
   * @throws InvalidArgumentError if it was removed already.
   */
  remove(): void {
    const map = this.requireMap();
    map.detach(this);
    this.#map = null;
  }

  private requireMap(): AddressMap {
    if (this.#map === null) throw new InvalidArgumentError("region", this.name, "was removed from the address map");
    return this.#map;
  }

  private makeBacking(): MemoryBacking {
    return this.kind === "ram"
      ? { kind: "device-ram", region: this.name, base: this.#base, size: this.size }
      : { kind: "registers", region: this.name, base: this.#base, size: this.size };
  }
}

/**
 * The board's physical address map: the RAM ranges of a {@link PhysicalLayout} plus the device regions registered
 * on it. Regions never overlap RAM or each other. Lookups are a binary search over regions sorted by base.
 */
export class AddressMap implements PhysicalAddressMap {
  readonly layout: PhysicalLayout;
  #regions: Region[] = [];
  /** Region bases, sorted, parallel to `#regions` (a typed array for the lookup). */
  #bases = new Float64Array(0);
  #ram: readonly { readonly base: PhysAddr; readonly end: PhysAddr }[];
  /** Internal: called after every change of the regions (add, move, remove), for the bus's direct views. */
  onChange: (() => void) | null = null;

  constructor(layout: PhysicalLayout) {
    this.layout = layout;
    this.#ram = ramRanges(layout);
  }

  /**
   * Adds a device window at [base, base+size).
   * A `registers` region sends each access to its handler; a `ram` region's accesses work on its `bytes`, whose
   * length must be `size`.
   * @throws InvalidArgumentError, changing nothing, if base or size are not integers, the range runs past 2^52,
   *   the spec is malformed, or the range overlaps RAM or another region.
   */
  addRegion(base: PhysAddr, size: number, spec: MmioRegionSpec): Region {
    checkPhysAddr("base", base);
    checkSize("size", size);
    checkSpec(size, spec);
    this.checkFree(base, size, null);
    const region = new Region(this, base, size, spec);
    this.#regions.push(region);
    this.reindex();
    return region;
  }

  /** The live regions, in address order. */
  regions(): readonly Region[] {
    return this.#regions.slice();
  }

  /** The region holding `address`, if any. Internal hot path: `address` must be a valid number. */
  find(address: PhysAddr): Region | undefined {
    const bases = this.#bases;
    let lo = 0;
    let hi = bases.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (bases[mid]! <= address) lo = mid + 1;
      else hi = mid - 1;
    }
    if (hi < 0) return undefined;
    const region = this.#regions[hi]!;
    return address < region.end ? region : undefined;
  }

  /** The first region starting above `address` (to find where a hole ends), or undefined. */
  nextRegionBase(address: PhysAddr): PhysAddr {
    for (const region of this.#regions) if (region.base > address) return region.base;
    return PHYS_ADDRESS_LIMIT;
  }

  /** True when `address` is RAM. */
  isRam(address: PhysAddr): boolean {
    for (const range of this.#ram) if (address >= range.base && address < range.end) return true;
    return false;
  }

  /** Internal: throws unless [base, base+size) is inside 2^52 and overlaps neither RAM nor a region but `self`. */
  checkFree(base: PhysAddr, size: number, self: Region | null): void {
    const end = base + size;
    if (end > PHYS_ADDRESS_LIMIT) {
      throw new InvalidArgumentError("base", base, `a region of ${formatHex(size)} bytes here runs past 2^52`);
    }
    for (const range of this.#ram) {
      if (base < range.end && range.base < end) {
        throw new InvalidArgumentError(
          "base",
          base,
          `[${formatHex(base)}, ${formatHex(end)}) overlaps RAM [${formatHex(range.base)}, ${formatHex(range.end)})`,
        );
      }
    }
    for (const other of this.#regions) {
      if (other !== self && base < other.end && other.base < end) {
        throw new InvalidArgumentError(
          "base",
          base,
          `[${formatHex(base)}, ${formatHex(end)}) overlaps region "${other.name}" [${formatHex(other.base)}, ${formatHex(other.end)})`,
        );
      }
    }
  }

  /** Internal: drops a region. */
  detach(region: Region): void {
    this.#regions = this.#regions.filter((r) => r !== region);
    this.reindex();
  }

  /** Internal: re-sorts after a change. */
  reindex(): void {
    this.#regions.sort((a, b) => a.base - b.base);
    this.#bases = Float64Array.from(this.#regions, (r) => r.base);
    this.onChange?.();
  }
}

function checkSpec(size: number, spec: MmioRegionSpec): void {
  if (typeof spec !== "object" || spec === null) throw new InvalidArgumentError("spec", spec, "not a region spec");
  if (typeof spec.name !== "string" || spec.name.length === 0) {
    throw new InvalidArgumentError("spec.name", spec.name, "must be a non-empty string");
  }
  if (spec.kind === "ram") {
    if (!(spec.bytes instanceof Uint8Array)) {
      throw new InvalidArgumentError("spec.bytes", spec.bytes, "must be a Uint8Array");
    }
    if (spec.bytes.length !== size) {
      throw new InvalidArgumentError("spec.bytes", spec.bytes.length, `length must equal the region size ${size}`);
    }
  } else if (spec.kind === "registers") {
    const handler = spec.handler as Partial<MmioHandler> | null;
    if (typeof handler !== "object" || handler === null) {
      throw new InvalidArgumentError("spec.handler", handler, "must be an MmioHandler object");
    }
    if (typeof handler.read !== "function" || typeof handler.write !== "function") {
      throw new InvalidArgumentError("spec.handler", handler, "must have read and write functions");
    }
  } else {
    throw new InvalidArgumentError("spec.kind", (spec as { kind: unknown }).kind, 'must be "registers" or "ram"');
  }
}
