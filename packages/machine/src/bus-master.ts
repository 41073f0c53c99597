import { type BusMaster, KsimError, type MemoryBacking, type PhysAddr, type PhysicalMemory } from "@ksim/core";

/** A device tried to read or write memory while bus mastering was off in its PCI command register. */
export class BusMasterDisabledError extends KsimError {
  readonly address: PhysAddr;
  constructor(address: PhysAddr) {
    super(
      "BUS_MASTER_DISABLED",
      `DMA at physical 0x${address.toString(16).toUpperCase()} refused: bus mastering is off (PCI command bit 2)`,
    );
    this.address = address;
  }
}

/**
 * A device's view of the physical address space for DMA: the machine's memory, refusing every access (throwing
 * {@link BusMasterDisabledError}, touching nothing) while `isEnabled()` is false. MSI writes into 0xFEE00000 made
 * through it become interrupt messages, as on real hardware. `backing()` is a query and always answers.
 */
export class DeviceBusMaster implements BusMaster {
  readonly #memory: PhysicalMemory;
  readonly #isEnabled: () => boolean;

  constructor(memory: PhysicalMemory, isEnabled: () => boolean) {
    this.#memory = memory;
    this.#isEnabled = isEnabled;
  }

  /** Whether the device may master the bus right now. */
  get enabled(): boolean {
    return this.#isEnabled();
  }

  private check(address: PhysAddr): void {
    if (!this.#isEnabled()) throw new BusMasterDisabledError(address);
  }

  read8(address: PhysAddr): number {
    this.check(address);
    return this.#memory.read8(address);
  }
  read16(address: PhysAddr): number {
    this.check(address);
    return this.#memory.read16(address);
  }
  read32(address: PhysAddr): number {
    this.check(address);
    return this.#memory.read32(address);
  }
  read64(address: PhysAddr): bigint {
    this.check(address);
    return this.#memory.read64(address);
  }
  write8(address: PhysAddr, value: number): void {
    this.check(address);
    this.#memory.write8(address, value);
  }
  write16(address: PhysAddr, value: number): void {
    this.check(address);
    this.#memory.write16(address, value);
  }
  write32(address: PhysAddr, value: number): void {
    this.check(address);
    this.#memory.write32(address, value);
  }
  write64(address: PhysAddr, value: bigint): void {
    this.check(address);
    this.#memory.write64(address, value);
  }
  fill(address: PhysAddr, length: number, byte: number): void {
    this.check(address);
    this.#memory.fill(address, length, byte);
  }
  copy(destination: PhysAddr, source: PhysAddr, length: number): void {
    this.check(source);
    this.#memory.copy(destination, source, length);
  }
  read(address: PhysAddr, into: Uint8Array): void {
    this.check(address);
    this.#memory.read(address, into);
  }
  write(address: PhysAddr, from: Uint8Array): void {
    this.check(address);
    this.#memory.write(address, from);
  }
  backing(address: PhysAddr): MemoryBacking {
    return this.#memory.backing(address);
  }
}
