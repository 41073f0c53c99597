import type { PhysAddr } from "./address.js";

/** Memory-map entry types, with E820 / Multiboot2 values. */
export const MemoryRegionType = {
  Usable: 1,
  Reserved: 2,
  AcpiReclaimable: 3,
  AcpiNvs: 4,
  BadMemory: 5,
} as const;
export type MemoryRegionTypeValue = (typeof MemoryRegionType)[keyof typeof MemoryRegionType];

/** One range of the firmware memory map. `length` is in bytes; entries do not overlap and are sorted by base. */
export interface MemoryMapEntry {
  readonly base: PhysAddr;
  readonly length: number;
  readonly type: MemoryRegionTypeValue;
}

/** The memory map the firmware hands the kernel at boot (E820 / Multiboot2 style). */
export type FirmwareMemoryMap = readonly MemoryMapEntry[];

/** Readable name of a memory-map type, as Linux prints E820 entries. */
export function memoryRegionTypeName(type: MemoryRegionTypeValue): string {
  switch (type) {
    case MemoryRegionType.Usable:
      return "usable";
    case MemoryRegionType.Reserved:
      return "reserved";
    case MemoryRegionType.AcpiReclaimable:
      return "ACPI data";
    case MemoryRegionType.AcpiNvs:
      return "ACPI NVS";
    case MemoryRegionType.BadMemory:
      return "unusable";
  }
}
