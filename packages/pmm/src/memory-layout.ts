import {
  type FirmwareMemoryMap,
  InvalidArgumentError,
  MemoryRegionType,
  PAGE_SIZE,
  PHYS_ADDRESS_LIMIT,
} from "@ksim/core";

/** Frames below this (the first MiB: real-mode IVT, BDA, EBDA, VGA and option ROMs) are never managed. */
export const LOW_RESERVED_FRAMES = 0x10_0000 / PAGE_SIZE;

/**
 * The highest frame number (exclusive) the allocator manages: 2^30 frames, that is usable RAM up to 4 TiB.
 * Frame numbers then stay below 2^30, so they fit 32-bit integer arithmetic on every hot path.
 */
export const MAX_MANAGED_FRAMES = 2 ** 30;

/** Usable RAM as sorted, disjoint, non-adjacent ranges of frame numbers [start, end). */
export interface UsableLayout {
  readonly starts: Float64Array;
  readonly ends: Float64Array;
  /** One past the highest usable frame: the size of the frame-number space the allocator indexes. */
  readonly frameLimit: number;
  /** Frames of usable RAM in total. */
  readonly usableFrames: number;
}

/**
 * Computes which frames are usable RAM: the `Usable` entries (merged, then shrunk inward to whole frames), minus every other entry
 * (a user-given list may overlap; reserved wins), minus the first MiB. Adjacent pieces are merged, so an allocated
 * run always lies inside one range.
 * @throws InvalidArgumentError if an entry is malformed or usable RAM reaches above 4 TiB.
 */
export function computeUsableLayout(map: FirmwareMemoryMap): UsableLayout {
  if (!Array.isArray(map)) throw new InvalidArgumentError("memoryMap", map, "not an array of memory-map entries");
  const usable: [number, number][] = [];
  const holes: [number, number][] = [];
  map.forEach((entry, i) => {
    const { base, length, type } = entry;
    if (!Number.isInteger(base) || base < 0 || base >= PHYS_ADDRESS_LIMIT) {
      throw new InvalidArgumentError(`memoryMap[${i}].base`, base, "not a physical address");
    }
    if (!Number.isInteger(length) || length < 0 || base + length > PHYS_ADDRESS_LIMIT) {
      throw new InvalidArgumentError(`memoryMap[${i}].length`, length, "not a length within the physical space");
    }
    if (type === MemoryRegionType.Usable) {
      if (length > 0) usable.push([base, base + length]); // bytes: merged before rounding to frames
    } else {
      // Any frame a reserved entry touches is unusable.
      const start = Math.floor(base / PAGE_SIZE);
      const end = Math.ceil((base + length) / PAGE_SIZE);
      if (end > start) holes.push([start, end]);
    }
  });
  holes.push([0, LOW_RESERVED_FRAMES]);
  const usableFrames: [number, number][] = [];
  for (const [b, e] of mergeRanges(usable)) {
    const start = Math.ceil(b / PAGE_SIZE);
    const end = Math.floor(e / PAGE_SIZE);
    if (end > start) usableFrames.push([start, end]);
  }
  const merged = subtract(usableFrames, mergeRanges(holes));
  const frameLimit = merged.length === 0 ? 0 : merged[merged.length - 1]![1];
  if (frameLimit > MAX_MANAGED_FRAMES) {
    throw new InvalidArgumentError(
      "memoryMap",
      frameLimit * PAGE_SIZE,
      "usable RAM ends above 4 TiB, the most this allocator manages",
    );
  }
  return {
    starts: Float64Array.from(merged, (r) => r[0]),
    ends: Float64Array.from(merged, (r) => r[1]),
    frameLimit,
    usableFrames: merged.reduce((sum, [s, e]) => sum + (e - s), 0),
  };
}

/** Index of the usable range that contains `frame`, or -1. Binary search: maps have a handful of ranges. */
export function rangeIndexOf(layout: UsableLayout, frame: number): number {
  let lo = 0;
  let hi = layout.starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (frame < layout.starts[mid]!) hi = mid - 1;
    else if (frame >= layout.ends[mid]!) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/** Sorts and merges overlapping or adjacent ranges. */
function mergeRanges(ranges: [number, number][]): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** `ranges` minus `holes`; both sorted and merged. */
function subtract(ranges: [number, number][], holes: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [s0, e] of ranges) {
    let s = s0;
    for (const [hs, he] of holes) {
      if (he <= s || hs >= e) continue;
      if (hs > s) out.push([s, hs]);
      s = Math.max(s, he);
      if (s >= e) break;
    }
    if (s < e) out.push([s, e]);
  }
  return out;
}
