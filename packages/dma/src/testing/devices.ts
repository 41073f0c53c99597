import type { AccessSize, BusMaster, MmioHandler } from "@ksim/core";

/** Register offsets of {@link CopyEngine}. Every register is 32 bits and takes only 4-byte accesses. */
export const CopyEngineRegister = {
  /** Read-only identification: 0xC0DE0001. */
  ID: 0x00,
  /** Bus address of the RAM side of a transfer, low and high halves. */
  ADDRESS_LO: 0x04,
  ADDRESS_HI: 0x08,
  /** Bytes to move, at most the device's buffer size. */
  LENGTH: 0x0c,
  /** Write 1: RAM to device (fetch); 2: device to RAM (store). The transfer runs at once. */
  COMMAND: 0x10,
  /** 0: idle, 1: last transfer done, 0x80: last command refused (bad length or command, or bus mastering off). */
  STATUS: 0x14,
} as const;

export const COPY_ENGINE_ID = 0xc0de_0001;
export const CopyEngineCommand = { FETCH: 1, STORE: 2 } as const;

/**
 * A test device that bus-masters: a small register window and a private buffer, moving bytes between the buffer
 * and RAM at a bus address the driver programs. It reaches RAM only through its {@link BusMaster}, so what it
 * sees is what a real device would: physical memory, whatever the CPU's page tables say.
 */
export class CopyEngine implements MmioHandler {
  /** The device's own memory (tests look at it as the hardware side). */
  readonly buffer: Uint8Array;
  /** Accesses of a width other than 4 bytes, which the device ignores (reads return all ones). */
  badWidthAccesses = 0;
  readonly #bus: BusMaster;
  #address = 0;
  #length = 0;
  #status = 0;

  constructor(bus: BusMaster, bufferSize = 0x1000) {
    this.#bus = bus;
    this.buffer = new Uint8Array(bufferSize);
  }

  read(offset: number, size: AccessSize): number {
    if (size !== 4) {
      this.badWidthAccesses++;
      return size === 2 ? 0xffff : 0xff;
    }
    switch (offset) {
      case CopyEngineRegister.ID:
        return COPY_ENGINE_ID;
      case CopyEngineRegister.ADDRESS_LO:
        return this.#address % 2 ** 32;
      case CopyEngineRegister.ADDRESS_HI:
        return Math.floor(this.#address / 2 ** 32);
      case CopyEngineRegister.LENGTH:
        return this.#length;
      case CopyEngineRegister.STATUS:
        return this.#status;
      default:
        return 0xffff_ffff;
    }
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (size !== 4) {
      this.badWidthAccesses++;
      return;
    }
    switch (offset) {
      case CopyEngineRegister.ADDRESS_LO:
        this.#address = Math.floor(this.#address / 2 ** 32) * 2 ** 32 + (value >>> 0);
        break;
      case CopyEngineRegister.ADDRESS_HI:
        this.#address = (value & 0xf_ffff) * 2 ** 32 + (this.#address % 2 ** 32);
        break;
      case CopyEngineRegister.LENGTH:
        this.#length = value >>> 0;
        break;
      case CopyEngineRegister.COMMAND:
        this.#run(value >>> 0);
        break;
    }
  }

  #run(command: number): void {
    if (this.#length > this.buffer.length || !this.#bus.enabled) {
      this.#status = 0x80;
      return;
    }
    const window = this.buffer.subarray(0, this.#length);
    if (command === CopyEngineCommand.FETCH) this.#bus.read(this.#address, window);
    else if (command === CopyEngineCommand.STORE) this.#bus.write(this.#address, window);
    else {
      this.#status = 0x80;
      return;
    }
    this.#status = 1;
  }
}

/** One register access as {@link LoggingRegisters} saw it. */
export interface RegisterAccess {
  readonly op: "read" | "write";
  readonly offset: number;
  /** Bytes: 1, 2, 4, or 8 for a native 64-bit access. */
  readonly size: 1 | 2 | 4 | 8;
  readonly value: number | bigint;
}

/**
 * A register window that logs every access with its offset and width and otherwise behaves like plain memory
 * (reads return what was written, little-endian). With `native64` it implements `read64`/`write64`; without, the
 * bus splits 8-byte accesses into two 4-byte ones.
 */
export class LoggingRegisters implements MmioHandler {
  readonly log: RegisterAccess[] = [];
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  read64?: (offset: number) => bigint;
  write64?: (offset: number, value: bigint) => void;

  constructor(size: number, native64 = false) {
    this.#bytes = new Uint8Array(size);
    this.#view = new DataView(this.#bytes.buffer);
    if (native64) {
      this.read64 = (offset) => {
        const value = this.#view.getBigUint64(offset, true);
        this.log.push({ op: "read", offset, size: 8, value });
        return value;
      };
      this.write64 = (offset, value) => {
        this.#view.setBigUint64(offset, BigInt.asUintN(64, value), true);
        this.log.push({ op: "write", offset, size: 8, value: BigInt.asUintN(64, value) });
      };
    }
  }

  read(offset: number, size: AccessSize): number {
    const value =
      size === 1
        ? this.#view.getUint8(offset)
        : size === 2
          ? this.#view.getUint16(offset, true)
          : this.#view.getUint32(offset, true);
    this.log.push({ op: "read", offset, size, value });
    return value;
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (size === 1) this.#view.setUint8(offset, value);
    else if (size === 2) this.#view.setUint16(offset, value, true);
    else this.#view.setUint32(offset, value, true);
    this.log.push({ op: "write", offset, size, value: value >>> 0 });
  }
}
