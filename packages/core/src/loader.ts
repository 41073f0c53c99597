import type { DmaApi } from "./dma.js";
import type { HeapApi } from "./heap.js";
import type { Logger } from "./logger.js";
import type { MemoryApi } from "./memory-api.js";
import type { PciApi } from "./pci.js";

export const DRIVER_STATUS_SUCCESS = 0;
export const DRIVER_STATUS_UNSUPPORTED = 1;
export const DRIVER_STATUS_NO_DEVICE = 2;
export const DRIVER_STATUS_ERROR = -1;

/** Load priorities: a CRITICAL driver that fails to load panics the kernel (DRIVER_LOAD_FAILED). */
export const DRIVER_CRITICAL = 0;
export const DRIVER_WARN = 1;
export const DRIVER_IGNORE = 2;
export type DriverPriority = typeof DRIVER_CRITICAL | typeof DRIVER_WARN | typeof DRIVER_IGNORE;

export const DRIVER_CURRENT_VERSION = 1;

/** The `driver_metadata` a driver exports, as in C. */
export interface DriverMetadata {
  readonly name: string;
  readonly author?: string | null;
  /** At boot, argc = 1 and argv = [filename]. Returns a DRIVER_STATUS_* value. */
  init(argc: number, argv: readonly string[]): number;
  deinit(): number;
}

/** An interrupt handler: returns 0 when it handled the interrupt; anything else panics IRQ_HANDLER_FAILED. */
export type InterruptHandler<C = unknown> = (context: C) => number;

/** Interrupt registration (the HAL calls of the original). */
export interface InterruptApi {
  hal_registerInterruptHandler<C>(irq: number, handler: InterruptHandler<C>, context: C): number;
  hal_unregisterInterruptHandler(irq: number): void;
}

/** Everything a driver can call: the kernel's API under its C names, plus libc's memory functions. */
export interface KernelApi extends Logger, HeapApi, DmaApi, MemoryApi, PciApi, InterruptApi {
  memset(destination: number, byte: number, length: number): number;
  memcpy(destination: number, source: number, length: number): number;
}

/** A driver module: a function of the kernel API returning its metadata (C's global `driver_metadata`). */
export type DriverModule = (kernel: KernelApi) => DriverMetadata;
