import type { PhysAddr } from "./address.js";
import type { PhysicalMemory } from "./physical-memory.js";

// The hardware side: what devices and the board offer each other. Kernel code never uses these directly;
// it reaches devices through memory accesses, port I/O and configuration cycles, as real software does.

/** Access widths a register window accepts (8-byte accesses go through read64/write64). */
export type AccessSize = 1 | 2 | 4;

/**
 * Register-style MMIO: each access reaches the device's handlers with its offset into the region and its width.
 * A handler that does not implement 64-bit accesses gets two 32-bit ones, low half first.
 */
export interface MmioHandler {
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
  read64?(offset: number): bigint;
  write64?(offset: number, value: bigint): void;
}

/** What a device puts into the physical address map. */
export type MmioRegionSpec =
  | { readonly kind: "registers"; readonly name: string; readonly handler: MmioHandler }
  /** RAM-like device memory (a framebuffer): accesses and bulk operations work on `bytes` directly. */
  | { readonly kind: "ram"; readonly name: string; readonly bytes: Uint8Array };

/** A live region in the physical address map. */
export interface MmioRegion {
  readonly name: string;
  readonly base: PhysAddr;
  readonly size: number;
  readonly kind: "registers" | "ram";
  /** Moves the region (a BAR was reprogrammed). Throws, changing nothing, if the new place overlaps another region. */
  moveTo(base: PhysAddr): void;
  /** Takes the region out of the map. */
  remove(): void;
}

/** The board's physical address map, where devices register their windows. */
export interface PhysicalAddressMap {
  /** Adds a region. Throws `InvalidArgumentError`, changing nothing, if it overlaps RAM or another region. */
  addRegion(base: PhysAddr, size: number, spec: MmioRegionSpec): MmioRegion;
  regions(): readonly MmioRegion[];
}

/** A device's handler for a range of I/O ports; `offset` is the port minus the range's first port. */
export interface PortIoHandler {
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
}

/** A registered range of I/O ports. */
export interface PortRange {
  readonly name: string;
  readonly base: number;
  readonly count: number;
  remove(): void;
}

/**
 * The 64 KiB x86 I/O port space. Reads of unclaimed ports return all ones; writes to them are dropped.
 * C names (inb/outb...) are kept, as drivers use them.
 */
export interface PortIo {
  inb(port: number): number;
  inw(port: number): number;
  inl(port: number): number;
  outb(port: number, value: number): void;
  outw(port: number, value: number): void;
  outl(port: number, value: number): void;
  /** Claims `count` ports from `base`. Throws if any is claimed already. */
  register(base: number, count: number, name: string, handler: PortIoHandler): PortRange;
}

/** Where the board delivers interrupts: the interrupt controller or the kernel's dispatcher. */
export interface InterruptSink {
  /** A level-triggered pin line changed (INTx through the PIC/IOAPIC). */
  line(line: number, asserted: boolean): void;
  /** A message-signalled interrupt: a DWORD write to the 0xFEE00000 window. */
  message(address: PhysAddr, data: number): void;
}

/** What a device uses to raise interrupts. */
export interface InterruptLines {
  setLine(line: number, asserted: boolean): void;
  /** Writes an MSI message (address in the 0xFEE00000 window, data = vector and delivery mode). */
  sendMessage(address: PhysAddr, data: number): void;
}

/**
 * A device's view of memory when it bus-masters (DMA). Accesses are refused while bus mastering is off in the
 * device's PCI command register: `enabled` is false and reads/writes throw.
 */
export interface BusMaster extends PhysicalMemory {
  readonly enabled: boolean;
}

/** The device side of PCI configuration space (256 bytes, or 4 KiB for PCI Express). */
export interface ConfigSpace {
  readonly size: 256 | 4096;
  /** Reads `size` bytes at `offset` (aligned to `size`). */
  read(offset: number, size: AccessSize): number;
  /** Writes honouring read-only and write-1-to-clear bits, as the device defines them. */
  write(offset: number, size: AccessSize, value: number): void;
}

/** What the bus gives a device when it is plugged in. */
export interface DeviceContext {
  readonly busMaster: BusMaster;
  readonly interrupts: InterruptLines;
  readonly addressMap: PhysicalAddressMap;
  readonly ports: PortIo;
}

/** A PCI function's hardware model. */
export interface DeviceModel {
  readonly name: string;
  readonly config: ConfigSpace;
  /** Called once when the device is plugged into a bus. */
  attach(context: DeviceContext): void;
  /** Back to power-on state. */
  reset(): void;
}
