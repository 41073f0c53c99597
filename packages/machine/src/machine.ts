import {
  type AccessSize,
  type BusMaster,
  type FirmwareMemoryMap,
  type InterruptSink,
  InvalidArgumentError,
  type PhysicalMemory,
} from "@ksim/core";
import { AddressMap, type Region } from "./address-map.js";
import { DeviceBusMaster } from "./bus-master.js";
import { buildFirmwareMemoryMap, formatE820 } from "./firmware-memory-map.js";
import { InterruptController } from "./interrupts.js";
import { formatIomem } from "./iomem.js";
import {
  buildPhysicalLayout,
  DEFAULT_LOW_MEMORY_TOP,
  MSI_WINDOW_BASE,
  MSI_WINDOW_SIZE,
  type PhysicalLayout,
} from "./layout.js";
import type { LinearRam } from "./linear-ram.js";
import { PhysicalBus } from "./physical-bus.js";
import { PortSpace } from "./port-io.js";
import { sharedRamArenas } from "./ram-arena.js";
import type { SparseRam } from "./sparse-ram.js";

/** How to build a {@link Machine}. */
export interface MachineOptions {
  /** Bytes of RAM: a multiple of 4 KiB in [2 MiB, 16 TiB]. Memory is allocated only as it is written. */
  readonly ramSize: number;
  /** When true, physical accesses that hit no RAM and no device throw `BusError` instead of reading all ones. */
  readonly strict?: boolean;
  /** Top of RAM below 4 GiB (start of the PCI hole): a multiple of 16 MiB up to 3.5 GiB. Default 3 GiB. */
  readonly lowMemoryTop?: number;
  /**
   * Where RAM below the PCI hole lives. `"linear"` (the default): in one host buffer whose pages the host OS
   * commits on first write, which makes accesses fastest and gives `memory.linearView`; if the host refuses the
   * buffer, in chunks after all. `"chunked"`: in 64 KiB chunks allocated on first write (and freed when zeroed
   * whole), as RAM above 4 GiB always is.
   */
  readonly lowRam?: "linear" | "chunked";
}

/** A snapshot of the machine's counters. */
export interface MachineStats {
  /** Physical reads that hit nothing (a bulk operation counts once per unbacked stretch). */
  readonly unbackedReads: number;
  readonly unbackedWrites: number;
  /** Address of the latest unbacked physical access, or -1. */
  readonly lastUnbackedAddress: number;
  /** Port reads and writes that reached no device (counted per byte). */
  readonly unclaimedPortReads: number;
  readonly unclaimedPortWrites: number;
  /**
   * RAM chunks counted as allocated (low and high RAM together): written with something other than zero (through
   * the bus, or by a direct view asked for with `forWrite`) and not zeroed whole since. Chunks are 64 KiB (1 MiB
   * and up above 64 GiB of high RAM).
   */
  readonly ramChunksAllocated: number;
  /**
   * `ramChunksAllocated` in bytes. For chunked RAM, the host memory its chunks take. For low RAM in one buffer, a
   * measure of what was written: the host OS commits 4 KiB pages on first write (so it usually holds less) and
   * keeps them when a chunk is zeroed whole (so after that it can hold more).
   */
  readonly ramBytesAllocated: number;
  /** MSI messages delivered or queued. */
  readonly interruptMessages: number;
  /** Pin line level changes. */
  readonly interruptLineChanges: number;
}

/**
 * The simulated board: RAM laid out like a PC (below the PCI hole, the rest above 4 GiB), the physical address map
 * where devices register MMIO windows, the I/O port space, interrupt delivery (pin lines and MSI), and the firmware
 * memory map. Construction commits almost no host memory, whatever the RAM size: RAM takes memory as it is written.
 */
export class Machine {
  readonly layout: PhysicalLayout;
  /** RAM below the PCI hole, addressed from physical 0: in one host buffer, or in chunks (see `options.lowRam`). */
  readonly lowRam: LinearRam | SparseRam;
  /** RAM from 4 GiB (offset 0 is physical 4 GiB), or null when all RAM fits below the hole. */
  readonly highRam: SparseRam | null;
  readonly addressMap: AddressMap;
  /** The whole physical address space as the CPU sees it. */
  readonly memory: PhysicalMemory;
  readonly ports: PortSpace;
  readonly interrupts: InterruptController;
  /** What the firmware reports to the kernel at boot. */
  readonly firmwareMemoryMap: FirmwareMemoryMap;
  /** The built-in region decoding MSI writes at 0xFEE00000-0xFEEFFFFF. */
  readonly msiWindow: Region;
  readonly #bus: PhysicalBus;

  /**
   * @throws InvalidArgumentError for a bad `ramSize` or `lowMemoryTop`, or options that are not an object.
   */
  constructor(options: MachineOptions) {
    if (typeof options !== "object" || options === null) {
      throw new InvalidArgumentError("options", options, "must be an object with ramSize");
    }
    const strict = options.strict ?? false;
    if (typeof strict !== "boolean") throw new InvalidArgumentError("strict", strict, "must be a boolean");
    const lowRam = options.lowRam ?? "linear";
    if (lowRam !== "linear" && lowRam !== "chunked") {
      throw new InvalidArgumentError("lowRam", lowRam, 'must be "linear" or "chunked"');
    }
    this.layout = buildPhysicalLayout(options.ramSize, options.lowMemoryTop ?? DEFAULT_LOW_MEMORY_TOP);
    this.addressMap = new AddressMap(this.layout);
    this.#bus = new PhysicalBus(this.addressMap, strict, lowRam === "linear" ? sharedRamArenas : null);
    this.lowRam = this.#bus.lowRam;
    this.highRam = this.#bus.highRam;
    this.memory = this.#bus;
    this.ports = new PortSpace();
    // sendMessage writes through memory, so CPU writes, device DMA and sendMessage share one path.
    this.interrupts = new InterruptController((address, data) => this.#bus.write32(address, data));
    const interrupts = this.interrupts;
    this.msiWindow = this.addressMap.addRegion(MSI_WINDOW_BASE, MSI_WINDOW_SIZE, {
      kind: "registers",
      name: "msi",
      handler: {
        // No local APIC is modelled: its reads float high. Only DWORD writes are messages.
        read: (_offset: number, size: AccessSize) => (size === 4 ? 0xffff_ffff : size === 2 ? 0xffff : 0xff),
        write: (offset: number, size: AccessSize, value: number) => {
          if (size === 4 && offset % 4 === 0) interrupts.deliverMessage(MSI_WINDOW_BASE + offset, value);
        },
      },
    });
    this.firmwareMemoryMap = buildFirmwareMemoryMap(this.layout);
  }

  /** True when unbacked physical accesses throw `BusError`. */
  get strict(): boolean {
    return this.#bus.strict;
  }

  /** Routes interrupts to `sink` (null detaches); pending lines and queued messages are delivered at once. */
  setInterruptSink(sink: InterruptSink | null): void {
    this.interrupts.setSink(sink);
  }

  /**
   * A device's DMA view of physical memory, refusing accesses while `isEnabled()` is false (its PCI command
   * register's bus-master bit).
   * @throws InvalidArgumentError if `isEnabled` is not a function.
   */
  createBusMaster(isEnabled: () => boolean): BusMaster {
    if (typeof isEnabled !== "function") throw new InvalidArgumentError("isEnabled", isEnabled, "must be a function");
    return new DeviceBusMaster(this.#bus, isEnabled);
  }

  /** A snapshot of the counters. */
  get stats(): MachineStats {
    const { counters } = this.#bus;
    return {
      unbackedReads: counters.unbackedReads,
      unbackedWrites: counters.unbackedWrites,
      lastUnbackedAddress: counters.lastUnbackedAddress,
      unclaimedPortReads: this.ports.counters.unclaimedReads,
      unclaimedPortWrites: this.ports.counters.unclaimedWrites,
      ramChunksAllocated: this.lowRam.allocatedChunks + (this.highRam?.allocatedChunks ?? 0),
      ramBytesAllocated: this.lowRam.allocatedBytes + (this.highRam?.allocatedBytes ?? 0),
      interruptMessages: this.interrupts.messageCount,
      interruptLineChanges: this.interrupts.lineChangeCount,
    };
  }

  /** The firmware memory map as Linux prints it (`BIOS-e820: [mem 0x...-0x...] usable`). */
  formatMemoryMap(): string {
    return formatE820(this.firmwareMemoryMap);
  }

  /** The physical address space like Linux's `/proc/iomem`: the firmware map plus the device regions. */
  formatIomem(): string {
    return formatIomem(this.firmwareMemoryMap, this.addressMap.regions());
  }
}
