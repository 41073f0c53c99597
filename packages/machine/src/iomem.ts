import { type FirmwareMemoryMap, MemoryRegionType, type MemoryRegionTypeValue } from "@ksim/core";

/** A named physical range for {@link formatIomem}. */
export interface IomemEntry {
  readonly base: number;
  readonly size: number;
  readonly name: string;
}

/** Linux's /proc/iomem names for firmware memory-map types. */
function iomemName(type: MemoryRegionTypeValue): string {
  switch (type) {
    case MemoryRegionType.Usable:
      return "System RAM";
    case MemoryRegionType.AcpiReclaimable:
      return "ACPI Tables";
    case MemoryRegionType.AcpiNvs:
      return "ACPI Non-volatile Storage";
    case MemoryRegionType.BadMemory:
      return "Unusable memory";
    default:
      return "Reserved";
  }
}

/**
 * Formats the physical address space like Linux's `/proc/iomem`: one `start-end : name` line per firmware map entry
 * and device region, in address order, with ranges that lie inside another indented under it. Addresses are
 * inclusive, lower-case hex, at least 8 digits.
 */
export function formatIomem(map: FirmwareMemoryMap, regions: readonly IomemEntry[]): string {
  const entries: IomemEntry[] = [
    ...map.map((e) => ({ base: e.base, size: e.length, name: iomemName(e.type) })),
    ...regions,
  ].sort((a, b) => a.base - b.base || b.size - a.size);
  const open: IomemEntry[] = [];
  const lines: string[] = [];
  const hex = (value: number) => value.toString(16).padStart(8, "0");
  for (const entry of entries) {
    while (open.length > 0 && entry.base >= open.at(-1)!.base + open.at(-1)!.size) open.pop();
    lines.push(`${"  ".repeat(open.length)}${hex(entry.base)}-${hex(entry.base + entry.size - 1)} : ${entry.name}`);
    open.push(entry);
  }
  return lines.join("\n");
}
