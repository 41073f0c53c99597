import { PAGE_SIZE } from "@ksim/core";

/**
 * Linux's memory zones on x86-64, as frame-number ranges. Every allocation without a limit tries Normal first,
 * then DMA32, then DMA, so the memory that only some devices can reach is handed out last; a request with a limit
 * starts at the highest zone the limit allows. Buddy blocks never straddle a zone boundary: both boundaries are
 * powers of two and frame 0 is never free, so no free block can contain one.
 */
export const ZONE_NAMES = ["DMA", "DMA32", "Normal"] as const;
/** "DMA" (below 16 MiB), "DMA32" (below 4 GiB) or "Normal". */
export type ZoneName = (typeof ZONE_NAMES)[number];
export const ZONE_COUNT = 3;

/** First frame of DMA32 (16 MiB: the ISA DMA limit). */
export const DMA32_START_FRAME = 0x100_0000 / PAGE_SIZE;
/** First frame of Normal (4 GiB: the 32-bit DMA limit). */
export const NORMAL_START_FRAME = 0x1_0000_0000 / PAGE_SIZE;

/** The zone a frame lies in: 0 DMA, 1 DMA32, 2 Normal. */
export function zoneOf(frame: number): number {
  return frame < DMA32_START_FRAME ? 0 : frame < NORMAL_START_FRAME ? 1 : 2;
}

/** First frame of zone `z`. */
export function zoneStart(z: number): number {
  return z === 0 ? 0 : z === 1 ? DMA32_START_FRAME : NORMAL_START_FRAME;
}

/** One past the last frame of zone `z` (Normal is open-ended; callers clamp it). */
export function zoneEnd(z: number): number {
  return z === 0 ? DMA32_START_FRAME : z === 1 ? NORMAL_START_FRAME : Number.POSITIVE_INFINITY;
}
