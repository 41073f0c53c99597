import type { VirtualLayout, VirtualWindow } from "@ksim/core";

const GiB = 0x4000_0000;

/** The original kernel's window bases (canonical form in the comments), as 48-bit linear numbers. */
export const LAYOUT_BASES = {
  /** 0xFFFFF00000000000, PML4 slot 480: the kernel image. */
  kernel: 0xf000_0000_0000,
  /** 0xFFFFF80000000000, PML4 slot 496: DMA buffers (64 GiB). */
  dma: 0xf800_0000_0000,
  /** 0xFFFFFF0000000000, PML4 slot 510: the kernel heap. */
  heap: 0xff00_0000_0000,
  /** 0xFFFFFF8000000000, PML4 slot 511: the direct map of physical memory. */
  hhdm: 0xff80_0000_0000,
  /** 0xFFFFFFF000000000, PML4 511 / PDPT 448: MMIO mappings (4 GiB). */
  mmio: 0xfff0_0000_0000,
  /** 0xFFFFFFFF00000000, PML4 511 / PDPT 508: loaded drivers (2 GiB). */
  driver: 0xffff_0000_0000,
} as const;

/** The largest HHDM that fits below the MMIO window: 448 GiB. */
export const HHDM_MAX_SIZE = LAYOUT_BASES.mmio - LAYOUT_BASES.hhdm;

function window(name: string, base: number, size: number): VirtualWindow {
  return Object.freeze({ name, base, size });
}

/**
 * The original kernel's virtual layout, with the HHDM sized to `hhdmSize` (at most {@link HHDM_MAX_SIZE}).
 * The user window is the whole lower half (PML4 slots 0-255), which is what address spaces own privately.
 */
export function hexahedronLayout(hhdmSize: number): VirtualLayout {
  return Object.freeze({
    user: window("user", 0, 0x8000_0000_0000),
    kernel: window("kernel", LAYOUT_BASES.kernel, LAYOUT_BASES.dma - LAYOUT_BASES.kernel),
    dma: window("dma", LAYOUT_BASES.dma, 64 * GiB),
    heap: window("heap", LAYOUT_BASES.heap, LAYOUT_BASES.hhdm - LAYOUT_BASES.heap),
    hhdm: window("hhdm", LAYOUT_BASES.hhdm, hhdmSize),
    mmio: window("mmio", LAYOUT_BASES.mmio, 4 * GiB),
    driver: window("driver", LAYOUT_BASES.driver, 2 * GiB),
  });
}
