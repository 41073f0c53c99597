import { StopCode, type StopCodeName, stopCodeName } from "./stop-codes.js";

/** Base class of every error ksim throws on purpose. `code` is stable and machine-readable. */
export class KsimError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Renders an argument value for an error message: numbers in hex when they look like addresses. */
export function describeValue(value: unknown): string {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || !Number.isInteger(value)) return String(value);
    return value >= 0x10000 ? `0x${value.toString(16).toUpperCase()}` : String(value);
  }
  if (typeof value === "bigint") return `0x${value.toString(16).toUpperCase()}n`;
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}

/**
 * A caller passed a value the API does not accept (NaN, negative, fractional, misaligned, out of range,
 * unknown flags...). It names the argument, the value and the problem. Whoever throws it has changed nothing.
 */
export class InvalidArgumentError extends KsimError {
  readonly argument: string;
  readonly value: unknown;
  readonly problem: string;
  constructor(argument: string, value: unknown, problem: string) {
    super("EINVAL", `${argument} = ${describeValue(value)}: ${problem}`);
    this.argument = argument;
    this.value = value;
    this.problem = problem;
  }
}

/**
 * A kernel panic: what the original kernel's `kernel_panic_extended(bugcode, module, fmt, ...)` does, as a typed
 * error. The message is in the kernel's own words. The state that panicked is left as it was, so it can be inspected.
 */
export class KernelPanic extends KsimError {
  readonly stopCode: number;
  readonly stopName: StopCodeName;
  readonly module: string;
  constructor(stop: StopCodeName, module: string, message: string) {
    super(
      stop,
      `*** ${stop} (0x${StopCode[stop].toString(16).padStart(2, "0").toUpperCase()}) in ${module}: ${message}`,
    );
    this.stopCode = StopCode[stop];
    this.stopName = stop;
    this.module = module;
  }

  /** Builds a panic from a numeric stop code; an unknown one becomes KERNEL_BAD_ARGUMENT_ERROR, as in the original. */
  static fromCode(code: number, module: string, message: string): KernelPanic {
    return new KernelPanic(stopCodeName(code) ?? "KERNEL_BAD_ARGUMENT_ERROR", module, message);
  }
}

/** What kind of access a fault or translation is about. Numbers, so hot paths can pass them without allocating. */
export const Access = { Read: 0, Write: 1, Execute: 2 } as const;
export type AccessKind = (typeof Access)[keyof typeof Access];

/** Readable name of an access kind. */
export function accessName(access: AccessKind): "read" | "write" | "execute" {
  return access === Access.Read ? "read" : access === Access.Write ? "write" : "execute";
}

/** The details of a page fault, as the MMU reports them (a reused object on hot paths). */
export interface PageFaultInfo {
  /** The faulting linear address (CR2). */
  address: number;
  /** The architecture's error code (x86: P=1, W/R=2, U/S=4, RSVD=8, I/D=16). */
  errorCode: number;
  access: AccessKind;
  user: boolean;
  /** One sentence saying why, for example "PDPT entry not present". */
  reason: string;
}

/**
 * An access through the MMU faulted and no handler resolved it: on real hardware a #PF exception, which in the
 * original kernel halts the machine (CPU_EXCEPTION_UNHANDLED) when it comes from kernel mode.
 */
export class PageFault extends KsimError implements PageFaultInfo {
  readonly address: number;
  readonly errorCode: number;
  readonly access: AccessKind;
  readonly user: boolean;
  readonly reason: string;
  constructor(info: PageFaultInfo, formattedAddress?: string) {
    const where = formattedAddress ?? `0x${info.address.toString(16).toUpperCase()}`;
    super(
      "PAGE_FAULT",
      `page fault: ${info.user ? "user" : "supervisor"} ${accessName(info.access)} at ${where} ` +
        `(error code 0x${info.errorCode.toString(16)}): ${info.reason}`,
    );
    this.address = info.address;
    this.errorCode = info.errorCode;
    this.access = info.access;
    this.user = info.user;
    this.reason = info.reason;
  }
}

/** A general-protection fault, for example an access to a non-canonical address. */
export class GeneralProtectionFault extends KsimError {
  readonly address: bigint | number;
  readonly reason: string;
  constructor(address: bigint | number, reason: string) {
    super("GENERAL_PROTECTION_FAULT", `general protection fault at ${describeValue(address)}: ${reason}`);
    this.address = address;
    this.reason = reason;
  }
}

/** A physical access hit nothing (no RAM, no device) while the machine is in strict mode. */
export class BusError extends KsimError {
  readonly address: number;
  readonly size: number;
  readonly write: boolean;
  constructor(address: number, size: number, write: boolean) {
    super(
      "BUS_ERROR",
      `${write ? "write" : "read"} of ${size} byte(s) at physical 0x${address.toString(16).toUpperCase()} hits no RAM and no device`,
    );
    this.address = address;
    this.size = size;
    this.write = write;
  }
}

/** Why a frame could not be freed, released or unreserved. */
export type FrameProblem =
  | "misaligned"
  | "out-of-range"
  | "not-usable-ram"
  | "reserved"
  | "not-allocated"
  | "double-free"
  | "not-a-run-start"
  | "count-mismatch"
  /** The frame is allocated (in use), so it cannot be reserved. */
  | "in-use"
  /** The frame has more than one reference: drop the others with `release` before freeing it. */
  | "shared"
  /** Unreserve named a frame that is not reserved. */
  | "not-reserved";

/** A free, release or reserve named a frame that the allocator cannot take back. Nothing was changed. */
export class FrameError extends KsimError {
  readonly address: number;
  readonly problem: FrameProblem;
  constructor(address: number, problem: FrameProblem, detail: string) {
    super("FRAME_ERROR", `frame 0x${address.toString(16).toUpperCase()}: ${detail}`);
    this.address = address;
    this.problem = problem;
  }
}
