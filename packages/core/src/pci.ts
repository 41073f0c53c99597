import type { PhysAddr } from "./address.js";

// The driver-facing PCI API, serving both generations of the original's names (pci_scan / pci_scanDevice,
// pci_getBAR / pci_readBAR, .pid / .devid) so real Ethereal drivers port with few edits.

export const PCI_NONE = 0xffff;
export const PCI_MAX_BUS = 256;
export const PCI_MAX_SLOT = 32;
export const PCI_MAX_FUNC = 8;
export const PCI_MAX_PID = 32;
export const PCI_CONFIG_ADDRESS = 0xcf8;
export const PCI_CONFIG_DATA = 0xcfc;

export const PCI_BAR_MEMORY32 = 0x0;
export const PCI_BAR_IO_SPACE = 0x1;
export const PCI_BAR_MEMORY16 = 0x2;
export const PCI_BAR_MEMORY64 = 0x4;
export type PciBarType =
  | typeof PCI_BAR_MEMORY32
  | typeof PCI_BAR_IO_SPACE
  | typeof PCI_BAR_MEMORY16
  | typeof PCI_BAR_MEMORY64;

export const PCI_VENID_OFFSET = 0x00;
export const PCI_DEVID_OFFSET = 0x02;
export const PCI_COMMAND_OFFSET = 0x04;
export const PCI_STATUS_OFFSET = 0x06;
export const PCI_REVISION_ID_OFFSET = 0x08;
export const PCI_PROGIF_OFFSET = 0x09;
export const PCI_SUBCLASS_OFFSET = 0x0a;
export const PCI_CLASSCODE_OFFSET = 0x0b;
export const PCI_CACHE_LINE_SIZE_OFFSET = 0x0c;
export const PCI_LATENCY_TIMER_OFFSET = 0x0d;
export const PCI_HEADER_TYPE_OFFSET = 0x0e;
export const PCI_BIST_OFFSET = 0x0f;
export const PCI_GENERAL_BAR0_OFFSET = 0x10;
export const PCI_GENERAL_SUBSYSTEM_VENID_OFFSET = 0x2c;
export const PCI_GENERAL_SUBSYSTEM_ID_OFFSET = 0x2e;
export const PCI_GENERAL_CAPABILITIES_OFFSET = 0x34;
export const PCI_GENERAL_INTERRUPT_OFFSET = 0x3c;
export const PCI_GENERAL_INTERRUPT_PIN_OFFSET = 0x3d;

export const PCI_COMMAND_IO_SPACE = 0x01;
export const PCI_COMMAND_MEMORY_SPACE = 0x02;
export const PCI_COMMAND_BUS_MASTER = 0x04;
export const PCI_COMMAND_INTERRUPT_DISABLE = 0x400;
export const PCI_STATUS_INTERRUPT_STATUS = 0x08;
export const PCI_STATUS_CAPABILITIES_LIST = 0x10;

export const PCI_HEADER_TYPE_GENERAL = 0;
export const PCI_HEADER_TYPE_PCI_TO_PCI_BRIDGE = 1;
export const PCI_HEADER_TYPE_PCI_CARDBUS_BRIDGE = 2;
export const PCI_HEADER_TYPE_MULTIFUNCTION = 0x80;

export const PCI_CAP_MSI = 0x05;
export const PCI_CAP_VENDOR_SPECIFIC = 0x09;
export const PCI_CAP_MSI_X = 0x11;

/** A PCI function as the kernel caches it at enumeration. */
export interface PciDevice {
  readonly bus: number;
  readonly slot: number;
  readonly function: number;
  readonly vid: number;
  /** Device id, old-era name. */
  readonly pid: number;
  /** Device id, new-era name (same value as `pid`). */
  readonly devid: number;
  readonly class_code: number;
  readonly subclass_code: number;
  readonly prog_if: number;
  readonly revision: number;
  readonly header_type: number;
}

/** A decoded Base Address Register. `address` is physical (memory) or a port number (I/O). */
export interface PciBar {
  readonly type: PciBarType;
  readonly address: PhysAddr;
  readonly size: number;
  readonly prefetchable: boolean;
}

/** An id-list entry: a vendor and its device ids. An absent or empty list accepts every device of the vendor. */
export interface PciIdMapping {
  readonly vid: number;
  readonly pid?: readonly number[];
  readonly devid?: readonly number[];
}

/** `PCI_ID_MAPPING_END`: terminates an id list, as in C. */
export const PCI_ID_MAPPING_END: PciIdMapping = Object.freeze({ vid: PCI_NONE, pid: Object.freeze([PCI_NONE]) });

/** What pci_scan matches: class and subclass 0 mean "any". A null id list matches every vendor. */
export interface PciScanParameters {
  readonly class_code: number;
  readonly subclass_code: number;
  readonly id_list: readonly PciIdMapping[] | null;
}

/** Called for each match; a nonzero return stops the scan. */
export type PciScanCallback<C = unknown> = (device: PciDevice, context: C) => number;

/** The driver-facing PCI calls. */
export interface PciApi {
  /** Calls `callback` for each device matching `parameters` (null = all); returns 1 if a callback stopped it, else 0. */
  pci_scan<C>(callback: PciScanCallback<C>, parameters: PciScanParameters | null, context: C): number;
  /** The old-era name of pci_scan. */
  pci_scanDevice<C>(callback: PciScanCallback<C>, parameters: PciScanParameters | null, context: C): number;
  /** The cached device, or null when no valid function is there. */
  pci_getDevice(bus: number, slot: number, func: number): PciDevice | null;
  /** Decodes BAR `bar` of a function; null when there is no such BAR. */
  pci_getBAR(bus: number, slot: number, func: number, bar: number): PciBar | null;
  /** The old-era name of pci_getBAR. */
  pci_readBAR(bus: number, slot: number, func: number, bar: number): PciBar | null;
  pci_readConfigOffset(bus: number, slot: number, func: number, offset: number, size: 1 | 2 | 4): number;
  pci_writeConfigOffset(
    bus: number,
    slot: number,
    func: number,
    offset: number,
    value: number,
    size: 1 | 2 | 4,
  ): number;
  /** A pin interrupt's IRQ number for the function, or 0xFF. */
  pci_getInterrupt(bus: number, slot: number, func: number): number;
  /** Enables MSI (or MSI-X) and returns the IRQ number, or 0xFF. */
  pci_enableMSI(bus: number, slot: number, func: number): number;
}
