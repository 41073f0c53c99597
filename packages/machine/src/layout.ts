import { checkInteger, InvalidArgumentError, type PhysAddr } from "@ksim/core";

// The physical layout of a PC-like board: RAM below the PCI hole, the hole (device windows, ECAM, IOAPIC,
// LAPIC/MSI, the firmware flash), and the rest of RAM remapped above 4 GiB, as chipsets do.

/** 1 MiB: the legacy real-mode area that firmware keeps for itself. */
export const LOW_MEGABYTE = 0x10_0000;
/** 4 GiB: where RAM that does not fit below the PCI hole continues. */
export const HIGH_RAM_BASE = 0x1_0000_0000;
/** Default top of RAM below 4 GiB (3 GiB), leaving 0xC0000000-0xFFFFFFFF for the PCI hole. */
export const DEFAULT_LOW_MEMORY_TOP = 0xc000_0000;
/** The highest accepted `lowMemoryTop` (3.5 GiB): the PCIe ECAM window starts here. */
export const MAX_LOW_MEMORY_TOP = 0xe000_0000;
/** `lowMemoryTop` must be a multiple of this (16 MiB), as chipset decoders work in such units. */
export const LOW_MEMORY_TOP_ALIGNMENT = 0x100_0000;
/** PCI Express enhanced configuration (ECAM/MMCONFIG) window: 256 buses x 1 MiB. */
export const PCI_ECAM_BASE = 0xe000_0000;
export const PCI_ECAM_SIZE = 0x1000_0000;
/** The IOAPIC's register window. */
export const IOAPIC_BASE = 0xfec0_0000;
export const IOAPIC_SIZE = 0x1000;
/** The local APIC page; CPU-side reads and writes of it would reach the LAPIC. */
export const LAPIC_BASE = 0xfee0_0000;
export const LAPIC_SIZE = 0x1000;
/** The MSI window: a DWORD written anywhere in 0xFEE00000-0xFEEFFFFF is an interrupt message. */
export const MSI_WINDOW_BASE = 0xfee0_0000;
export const MSI_WINDOW_SIZE = 0x10_0000;
/** The firmware flash mapped just below 4 GiB (256 KiB, as SeaBIOS has it). */
export const FIRMWARE_FLASH_BASE = 0xfffc_0000;
export const FIRMWARE_FLASH_SIZE = 0x4_0000;
/** Smallest machine: the reserved first MiB, the ACPI area and some usable RAM. */
export const MIN_RAM_SIZE = 0x20_0000;
/** Largest machine (16 TiB): the chunk table stays at or below 2^20 entries with chunks of at most 16 MiB. */
export const MAX_RAM_SIZE = 2 ** 44;

/** Where RAM sits in the physical address space. All values are bytes or physical addresses. */
export interface PhysicalLayout {
  /** Total RAM. */
  readonly ramSize: number;
  /** Top of the low RAM range [0, lowRamEnd): min(ramSize, lowMemoryTop). */
  readonly lowRamEnd: PhysAddr;
  /** The configured boundary below which RAM sits (the start of the PCI hole). */
  readonly lowMemoryTop: PhysAddr;
  /** RAM above 4 GiB: [HIGH_RAM_BASE, highRamEnd); empty (highRamEnd = HIGH_RAM_BASE) on small machines. */
  readonly highRamEnd: PhysAddr;
  /** The 32-bit PCI memory window for BARs: [pciHoleBase, PCI_ECAM_BASE). */
  readonly pciHoleBase: PhysAddr;
  /** First address of the 64-bit PCI memory window (above the highest RAM, 1 GiB aligned). */
  readonly pci64WindowBase: PhysAddr;
}

/** The RAM ranges of a layout, as [base, end) pairs, in address order. */
export function ramRanges(layout: PhysicalLayout): readonly { readonly base: PhysAddr; readonly end: PhysAddr }[] {
  const ranges = [{ base: 0, end: layout.lowRamEnd }];
  if (layout.highRamEnd > HIGH_RAM_BASE) ranges.push({ base: HIGH_RAM_BASE, end: layout.highRamEnd });
  return ranges;
}

/**
 * Computes where `ramSize` bytes of RAM go: up to `lowMemoryTop` below 4 GiB, the rest from 4 GiB.
 * @throws InvalidArgumentError if `ramSize` is not a multiple of 4 KiB in [2 MiB, 16 TiB], or `lowMemoryTop` is not
 *   a multiple of 16 MiB in [16 MiB, 3.5 GiB].
 */
export function buildPhysicalLayout(ramSize: number, lowMemoryTop: number = DEFAULT_LOW_MEMORY_TOP): PhysicalLayout {
  checkInteger("ramSize", ramSize, MIN_RAM_SIZE, MAX_RAM_SIZE);
  if (ramSize % 0x1000 !== 0) throw new InvalidArgumentError("ramSize", ramSize, "not a multiple of 4 KiB");
  checkInteger("lowMemoryTop", lowMemoryTop, LOW_MEMORY_TOP_ALIGNMENT, MAX_LOW_MEMORY_TOP);
  if (lowMemoryTop % LOW_MEMORY_TOP_ALIGNMENT !== 0) {
    throw new InvalidArgumentError("lowMemoryTop", lowMemoryTop, "not a multiple of 16 MiB");
  }
  const lowRamEnd = Math.min(ramSize, lowMemoryTop);
  const highRamEnd = HIGH_RAM_BASE + (ramSize - lowRamEnd);
  const gib = 0x4000_0000;
  return {
    ramSize,
    lowRamEnd,
    lowMemoryTop,
    highRamEnd,
    pciHoleBase: lowMemoryTop,
    pci64WindowBase: Math.ceil(highRamEnd / gib) * gib,
  };
}
