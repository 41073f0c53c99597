import {
  type AccessSize,
  checkInteger,
  formatHex,
  InvalidArgumentError,
  type PortIo,
  type PortIoHandler,
  type PortRange,
} from "@ksim/core";

/** Size of the x86 I/O port space. */
export const PORT_COUNT = 0x1_0000;

const ALL_ONES = [0, 0xff, 0xffff, 0, 0xffff_ffff] as const;

/** Counters of port accesses that reached no device. */
export interface PortCounters {
  unclaimedReads: number;
  unclaimedWrites: number;
}

/** A claimed range of ports. */
class ClaimedPorts implements PortRange {
  readonly name: string;
  readonly base: number;
  readonly count: number;
  readonly handler: PortIoHandler;
  readonly id: number;
  #space: PortSpace | null;

  constructor(space: PortSpace, id: number, base: number, count: number, name: string, handler: PortIoHandler) {
    this.#space = space;
    this.id = id;
    this.base = base;
    this.count = count;
    this.name = name;
    this.handler = handler;
  }

  /** Releases the ports. @throws InvalidArgumentError if released already. */
  remove(): void {
    if (this.#space === null) throw new InvalidArgumentError("range", this.name, "was removed already");
    this.#space.release(this);
    this.#space = null;
  }
}

/**
 * The 64 KiB I/O port space. A flat table maps each port to the range that claimed it. An access whose ports all
 * belong to one range reaches that handler once with its full width; an access spanning ranges or unclaimed ports
 * is split into single-byte cycles. Unclaimed ports read all ones and drop writes (counted).
 */
export class PortSpace implements PortIo {
  /** Owner id per port (0 = unclaimed; else index + 1 into `#ranges`). */
  readonly #owner = new Uint16Array(PORT_COUNT);
  readonly #ranges: (ClaimedPorts | undefined)[] = [undefined];
  readonly counters: PortCounters = { unclaimedReads: 0, unclaimedWrites: 0 };

  /** Reads a byte from `port`. @throws InvalidArgumentError unless `port` is an integer in [0, 0xFFFF]. */
  inb(port: number): number {
    return this.in(port, 1);
  }
  /** Reads 16 bits from `port` (and `port + 1`). @throws InvalidArgumentError for a bad port. */
  inw(port: number): number {
    return this.in(port, 2);
  }
  /** Reads 32 bits from `port`..`port + 3`. @throws InvalidArgumentError for a bad port. */
  inl(port: number): number {
    return this.in(port, 4);
  }
  /** Writes a byte (an integer in [-128, 255]). @throws InvalidArgumentError, doing nothing, for bad arguments. */
  outb(port: number, value: number): void {
    this.out(port, 1, value);
  }
  /** Writes 16 bits. @throws InvalidArgumentError, doing nothing, for bad arguments. */
  outw(port: number, value: number): void {
    this.out(port, 2, value);
  }
  /** Writes 32 bits (an integer in [-2^31, 2^32)). @throws InvalidArgumentError, doing nothing, for bad arguments. */
  outl(port: number, value: number): void {
    this.out(port, 4, value);
  }

  /**
   * Claims ports [base, base+count) for `handler`.
   * @throws InvalidArgumentError, changing nothing, for a bad range, an empty name, a handler without read/write, or
   *   a port claimed already.
   */
  register(base: number, count: number, name: string, handler: PortIoHandler): PortRange {
    checkInteger("base", base, 0, PORT_COUNT - 1);
    checkInteger("count", count, 1, PORT_COUNT);
    if (base + count > PORT_COUNT)
      throw new InvalidArgumentError("count", count, `ports run past 0xFFFF from ${formatHex(base)}`);
    if (typeof name !== "string" || name.length === 0)
      throw new InvalidArgumentError("name", name, "must be a non-empty string");
    if (
      typeof handler !== "object" ||
      handler === null ||
      typeof handler.read !== "function" ||
      typeof handler.write !== "function"
    ) {
      throw new InvalidArgumentError("handler", handler, "must have read and write functions");
    }
    for (let port = base; port < base + count; port++) {
      const owner = this.#owner[port]!;
      if (owner !== 0) {
        const other = this.#ranges[owner]!;
        throw new InvalidArgumentError("base", base, `port ${formatHex(port, 4)} is claimed by "${other.name}"`);
      }
    }
    let id = this.#ranges.indexOf(undefined, 1);
    if (id === -1) id = this.#ranges.length;
    const range = new ClaimedPorts(this, id, base, count, name, handler);
    this.#ranges[id] = range;
    this.#owner.fill(id, base, base + count);
    return range;
  }

  /** The claimed ranges, in port order. */
  ranges(): readonly PortRange[] {
    return this.#ranges.filter((r): r is ClaimedPorts => r !== undefined).sort((a, b) => a.base - b.base);
  }

  /** Internal: frees a range's ports. */
  release(range: ClaimedPorts): void {
    this.#owner.fill(0, range.base, range.base + range.count);
    this.#ranges[range.id] = undefined;
  }

  private in(port: number, size: AccessSize): number {
    checkPort(port, size);
    const owner = this.#owner[port]!;
    if (owner !== 0 && (size === 1 || this.#owner[port + size - 1] === owner)) {
      const range = this.#ranges[owner]!;
      const value = range.handler.read(port - range.base, size);
      return size === 4 ? value >>> 0 : value & ALL_ONES[size];
    }
    if (size === 1) {
      this.counters.unclaimedReads++;
      return 0xff;
    }
    let value = 0;
    for (let i = 0; i < size; i++) value += this.in(port + i, 1) * 2 ** (8 * i);
    return value;
  }

  private out(port: number, size: AccessSize, value: number): void {
    checkPort(port, size);
    const bits = 8 * size;
    checkInteger("value", value, -(2 ** (bits - 1)), 2 ** bits - 1);
    const unsigned = size === 4 ? value >>> 0 : value & ALL_ONES[size];
    const owner = this.#owner[port]!;
    if (owner !== 0 && (size === 1 || this.#owner[port + size - 1] === owner)) {
      const range = this.#ranges[owner]!;
      range.handler.write(port - range.base, size, unsigned);
      return;
    }
    if (size === 1) {
      this.counters.unclaimedWrites++;
      return;
    }
    for (let i = 0; i < size; i++) this.out(port + i, 1, Math.floor(unsigned / 2 ** (8 * i)) & 0xff);
  }
}

function checkPort(port: number, size: number): void {
  checkInteger("port", port, 0, PORT_COUNT - 1);
  if (port + size > PORT_COUNT)
    throw new InvalidArgumentError("port", port, `a ${size}-byte access here runs past 0xFFFF`);
}
