import {
  checkInteger,
  checkPhysAddr,
  type InterruptLines,
  type InterruptSink,
  InvalidArgumentError,
  type PhysAddr,
} from "@ksim/core";
import { MSI_WINDOW_BASE, MSI_WINDOW_SIZE } from "./layout.js";

/** Number of pin lines (IOAPIC inputs and beyond); lines are numbered 0..255. */
export const INTERRUPT_LINE_COUNT = 256;

/** An MSI message remembered while no sink was attached. */
export interface PendingMessage {
  readonly address: PhysAddr;
  readonly data: number;
}

/**
 * The board's interrupt wiring. Pin lines are level-triggered: the sink hears about each change of level.
 * Messages (MSI) are DWORD writes into 0xFEE00000-0xFEEFFFFF; the machine's memory routes such writes here, so a
 * device's bus-master write and {@link sendMessage} are the same thing.
 *
 * With no sink attached, line levels are remembered and messages queued; attaching a sink delivers the asserted
 * lines and then the queued messages, in order.
 */
export class InterruptController implements InterruptLines {
  readonly #levels = new Uint8Array(INTERRUPT_LINE_COUNT);
  #pending: PendingMessage[] = [];
  #sink: InterruptSink | null = null;
  #messages = 0;
  #lineChanges = 0;
  /** Writes an MSI through the machine's memory (set by the machine), so it takes the same path as a device's. */
  #writeMessage: (address: PhysAddr, data: number) => void;

  constructor(writeMessage?: (address: PhysAddr, data: number) => void) {
    this.#writeMessage = writeMessage ?? ((address, data) => this.deliverMessage(address, data));
  }

  /** Attaches the sink (or detaches with null) and delivers what is pending. */
  setSink(sink: InterruptSink | null): void {
    if (
      sink !== null &&
      (typeof sink !== "object" || typeof sink.line !== "function" || typeof sink.message !== "function")
    ) {
      throw new InvalidArgumentError("sink", sink, "must have line(line, asserted) and message(address, data)");
    }
    this.#sink = sink;
    if (sink === null) return;
    for (let line = 0; line < INTERRUPT_LINE_COUNT; line++) if (this.#levels[line] === 1) sink.line(line, true);
    const pending = this.#pending;
    this.#pending = [];
    for (const message of pending) sink.message(message.address, message.data);
  }

  /**
   * Drives a pin line. The sink hears only changes of level.
   * @throws InvalidArgumentError if `line` is not an integer in [0, 255] or `asserted` is not a boolean.
   */
  setLine(line: number, asserted: boolean): void {
    checkInteger("line", line, 0, INTERRUPT_LINE_COUNT - 1);
    if (typeof asserted !== "boolean") throw new InvalidArgumentError("asserted", asserted, "must be a boolean");
    const level = asserted ? 1 : 0;
    if (this.#levels[line] === level) return;
    this.#levels[line] = level;
    this.#lineChanges++;
    this.#sink?.line(line, asserted);
  }

  /** True while `line` is asserted. @throws InvalidArgumentError for a bad line number. */
  isAsserted(line: number): boolean {
    checkInteger("line", line, 0, INTERRUPT_LINE_COUNT - 1);
    return this.#levels[line] === 1;
  }

  /**
   * Sends an MSI: a DWORD write of `data` to `address`, which must be 4-byte aligned inside 0xFEE00000-0xFEEFFFFF.
   * @throws InvalidArgumentError for an address outside the window, misaligned, or data that is not 32 bits.
   */
  sendMessage(address: PhysAddr, data: number): void {
    checkMessageAddress(address);
    checkInteger("data", data, -(2 ** 31), 2 ** 32 - 1);
    this.#writeMessage(address, data >>> 0);
  }

  /** Internal (the MSI window's write handler): hands a message to the sink, or queues it. */
  deliverMessage(address: PhysAddr, data: number): void {
    this.#messages++;
    if (this.#sink) this.#sink.message(address, data >>> 0);
    else this.#pending.push({ address, data: data >>> 0 });
  }

  /** Messages waiting for a sink. */
  pendingMessages(): readonly PendingMessage[] {
    return this.#pending.slice();
  }

  /** Messages delivered or queued since power-on. */
  get messageCount(): number {
    return this.#messages;
  }

  /** Line level changes since power-on. */
  get lineChangeCount(): number {
    return this.#lineChanges;
  }
}

function checkMessageAddress(address: PhysAddr): void {
  checkPhysAddr("address", address);
  if (address < MSI_WINDOW_BASE || address >= MSI_WINDOW_BASE + MSI_WINDOW_SIZE) {
    throw new InvalidArgumentError("address", address, "not in the MSI window 0xFEE00000-0xFEEFFFFF");
  }
  if (address % 4 !== 0) throw new InvalidArgumentError("address", address, "MSI address not DWORD aligned");
}
