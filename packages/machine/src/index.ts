export { AddressMap, Region } from "./address-map.js";
export { BusMasterDisabledError, DeviceBusMaster } from "./bus-master.js";
export {
  ACPI_NVS_SIZE,
  ACPI_TABLES_SIZE,
  buildFirmwareMemoryMap,
  formatE820,
  totalOfType,
} from "./firmware-memory-map.js";
export { INTERRUPT_LINE_COUNT, InterruptController, type PendingMessage } from "./interrupts.js";
export { formatIomem, type IomemEntry } from "./iomem.js";
export {
  buildPhysicalLayout,
  DEFAULT_LOW_MEMORY_TOP,
  FIRMWARE_FLASH_BASE,
  FIRMWARE_FLASH_SIZE,
  HIGH_RAM_BASE,
  IOAPIC_BASE,
  IOAPIC_SIZE,
  LAPIC_BASE,
  LAPIC_SIZE,
  LOW_MEGABYTE,
  LOW_MEMORY_TOP_ALIGNMENT,
  MAX_LOW_MEMORY_TOP,
  MAX_RAM_SIZE,
  MIN_RAM_SIZE,
  MSI_WINDOW_BASE,
  MSI_WINDOW_SIZE,
  PCI_ECAM_BASE,
  PCI_ECAM_SIZE,
  type PhysicalLayout,
  ramRanges,
} from "./layout.js";
export { CHUNK_CLEAN, CHUNK_LENT, CHUNK_WRITTEN, LinearRam } from "./linear-ram.js";
export { Machine, type MachineOptions, type MachineStats } from "./machine.js";
export { PhysicalBus, type UnbackedCounters } from "./physical-bus.js";
export { PORT_COUNT, type PortCounters, PortSpace } from "./port-io.js";
export {
  DEFAULT_ARENA_SIZE,
  DEFAULT_ARENA_WRITE_BUDGET,
  type HostAllocator,
  type RamArena,
  RamArenas,
  type RamSlice,
  sharedRamArenas,
} from "./ram-arena.js";
export { RamBank } from "./ram-bank.js";
export { chunkShiftFor, MAX_CHUNK_COUNT, MAX_CHUNK_SHIFT, MIN_CHUNK_SHIFT, SparseRam } from "./sparse-ram.js";
