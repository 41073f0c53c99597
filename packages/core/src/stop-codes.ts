/** The original kernel's stop codes (bugcodes for kernel_panic), at their original values. */
export const StopCode = {
  KERNEL_DEBUG_TRAP: 0x00,
  MEMORY_MANAGEMENT_ERROR: 0x01,
  KERNEL_BAD_ARGUMENT_ERROR: 0x02,
  OUT_OF_MEMORY: 0x03,
  IRQ_HANDLER_FAILED: 0x04,
  CPU_EXCEPTION_UNHANDLED: 0x05,
  UNSUPPORTED_FUNCTION_ERROR: 0x06,
  ACPI_SYSTEM_ERROR: 0x07,
  ASSERTION_FAILED: 0x08,
  INSUFFICIENT_HARDWARE_ERROR: 0x09,
  INITIAL_RAMDISK_CORRUPTED: 0x0a,
  DRIVER_LOADER_ERROR: 0x0b,
  DRIVER_LOAD_FAILED: 0x0c,
  SCHEDULER_ERROR: 0x0d,
  CRITICAL_PROCESS_DIED: 0x0e,
  UNKNOWN_CORRUPTION_DETECTED: 0x0f,
  UBSAN_TYPE_MISMATCH: 0x10,
  UBSAN_SHIFT_OUT_OF_BOUNDS: 0x11,
  UBSAN_POINTER_OVERFLOW: 0x12,
  STACK_SMASHING_DETECTED: 0x13,
  MISSING_INIT_DEPENDENCY: 0x14,
  INIT_ROUTINE_FAILURE: 0x15,
} as const;

export type StopCodeName = keyof typeof StopCode;

const names = new Map<number, StopCodeName>(
  (Object.entries(StopCode) as [StopCodeName, number][]).map(([name, code]) => [code, name]),
);

/** The name of a stop code, or undefined when the value is not one. */
export function stopCodeName(code: number): StopCodeName | undefined {
  return names.get(code);
}
