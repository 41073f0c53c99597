/** dprintf levels (DEBUG_LOG_TYPE), at the original values. */
export const NOHEADER = 0;
export const INFO = 1;
export const WARN = 2;
export const ERR = 3;
export const DEBUG = 4;
export type LogLevel = typeof NOHEADER | typeof INFO | typeof WARN | typeof ERR | typeof DEBUG;

/** The tag the kernel prints for a level (`INFO`, `WARN`, `ERR `, `DBG `), or `??? ` for an unknown one. */
export function logLevelTag(level: number): string {
  switch (level) {
    case INFO:
      return "INFO";
    case WARN:
      return "WARN";
    case ERR:
      return "ERR ";
    case DEBUG:
      return "DBG ";
    default:
      return "??? ";
  }
}

/** A printf argument: numbers, bigints (for %llX of 64-bit values) and strings. */
export type PrintfArg = number | bigint | string;

/**
 * The kernel's debug log, under its C names. `fmt` is a C printf format (d i u x X p s c, flags, width, precision,
 * length modifiers). Returns the number of characters written.
 */
export interface Logger {
  dprintf(level: LogLevel, format: string, ...args: PrintfArg[]): number;
  dprintf_module(level: LogLevel, module: string, format: string, ...args: PrintfArg[]): number;
}
