import {
  type FirmwareMemoryMap,
  type MemoryMapEntry,
  MemoryRegionType,
  type MemoryRegionTypeValue,
  memoryRegionTypeName,
} from "@ksim/core";
import {
  FIRMWARE_FLASH_BASE,
  FIRMWARE_FLASH_SIZE,
  HIGH_RAM_BASE,
  IOAPIC_BASE,
  IOAPIC_SIZE,
  LAPIC_BASE,
  LAPIC_SIZE,
  LOW_MEGABYTE,
  PCI_ECAM_BASE,
  PCI_ECAM_SIZE,
  type PhysicalLayout,
} from "./layout.js";

/** ACPI tables (reclaimable once parsed) just below the top of low RAM. */
export const ACPI_TABLES_SIZE = 0x1_0000;
/** ACPI non-volatile storage, the last bytes of low RAM. */
export const ACPI_NVS_SIZE = 0x1_0000;

/**
 * The memory map firmware would report for `layout` (E820 / Multiboot2 style), sorted and non-overlapping:
 * - the whole first MiB reserved (real-mode IVT, BDA, EBDA, VGA window, option and BIOS ROMs);
 * - usable RAM from 1 MiB to the top of low RAM minus 128 KiB;
 * - 64 KiB of ACPI tables (reclaimable) and 64 KiB of ACPI NVS at the top of low RAM;
 * - in the PCI hole, reserved entries for the PCIe ECAM window, the IOAPIC, the local APIC and the firmware flash
 *   (the rest of the hole is free for device BARs and not listed);
 * - RAM above 4 GiB usable.
 */
export function buildFirmwareMemoryMap(layout: PhysicalLayout): FirmwareMemoryMap {
  const entries: MemoryMapEntry[] = [];
  const add = (base: number, end: number, type: MemoryRegionTypeValue) => {
    if (end > base) entries.push(Object.freeze({ base, length: end - base, type }));
  };
  const acpiNvs = layout.lowRamEnd - ACPI_NVS_SIZE;
  const acpiTables = acpiNvs - ACPI_TABLES_SIZE;
  add(0, LOW_MEGABYTE, MemoryRegionType.Reserved);
  add(LOW_MEGABYTE, acpiTables, MemoryRegionType.Usable);
  add(acpiTables, acpiNvs, MemoryRegionType.AcpiReclaimable);
  add(acpiNvs, layout.lowRamEnd, MemoryRegionType.AcpiNvs);
  add(PCI_ECAM_BASE, PCI_ECAM_BASE + PCI_ECAM_SIZE, MemoryRegionType.Reserved);
  add(IOAPIC_BASE, IOAPIC_BASE + IOAPIC_SIZE, MemoryRegionType.Reserved);
  add(LAPIC_BASE, LAPIC_BASE + LAPIC_SIZE, MemoryRegionType.Reserved);
  add(FIRMWARE_FLASH_BASE, FIRMWARE_FLASH_BASE + FIRMWARE_FLASH_SIZE, MemoryRegionType.Reserved);
  add(HIGH_RAM_BASE, layout.highRamEnd, MemoryRegionType.Usable);
  return Object.freeze(entries);
}

/**
 * Formats a memory map the way Linux logs it at boot, one line per entry:
 * `BIOS-e820: [mem 0x0000000000100000-0x000000001ffdffff] usable` (inclusive end, lower-case hex).
 */
export function formatE820(map: FirmwareMemoryMap): string {
  const hex = (value: number) => `0x${value.toString(16).padStart(16, "0")}`;
  return map
    .map((e) => `BIOS-e820: [mem ${hex(e.base)}-${hex(e.base + e.length - 1)}] ${memoryRegionTypeName(e.type)}`)
    .join("\n");
}

/** Total bytes of the map's entries of `type`. */
export function totalOfType(map: FirmwareMemoryMap, type: MemoryRegionTypeValue): number {
  let total = 0;
  for (const entry of map) if (entry.type === type) total += entry.length;
  return total;
}
