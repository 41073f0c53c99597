import { KernelPanic, type VirtAddr, type VirtualMemory } from "@ksim/core";
import { PatternScanner, Poison } from "./debug.js";
import { HEADER_SIZE } from "./header.js";
import { Flag, GRANULE, type TlsfIndex } from "./tlsf.js";

/** What the debug guard needs from its heap: where blocks are and how to name them in a panic. */
export interface DebugGuardContext {
  readonly memory: VirtualMemory;
  readonly index: TlsfIndex;
  readonly base: VirtAddr;
  readonly format: (address: VirtAddr) => string;
  /** "the block 0xFFFF... (24 bytes, owner \"kernel\")" for live block `block`. */
  readonly describe: (block: number) => string;
}

const MODULE = "heap";

/**
 * The heap's debug mode (in the spirit of KASAN and SLUB debugging) in one place: red zones painted after every
 * live block and checked when it is freed or resized, freed memory poisoned and checked when it is handed out again,
 * new payloads filled with a marker byte. Blocks are granule indices of the heap's TLSF index. Each check panics
 * with `KernelPanic(MEMORY_MANAGEMENT_ERROR)` naming the first bad byte, and changes nothing.
 */
export class DebugGuard {
  /** The scanner the checks use (also heapCheck's). */
  readonly scanner: PatternScanner;

  constructor(private readonly context: DebugGuardContext) {
    this.scanner = new PatternScanner(context.memory);
  }

  /** Panics if the red zone of live block `block` (after its `requested` bytes) was written. */
  checkRedZone(block: number, requested: number, operation: string): void {
    const { index, format, describe } = this.context;
    const address = this.addressOf(block);
    const zoneStart = address + HEADER_SIZE + requested;
    const end = address + index.sizeOf(block) * GRANULE;
    const bad = this.scanner.firstMismatch(zoneStart, end - zoneStart, Poison.redZone);
    if (bad < 0) return;
    throw new KernelPanic(
      "MEMORY_MANAGEMENT_ERROR",
      MODULE,
      `${operation}(${format(address + HEADER_SIZE)}): Heap overflow detected: ${describe(block)} ` +
        `was written past its end: byte +${bad - address - HEADER_SIZE} (${format(bad)}) is ` +
        `0x${this.scanner.byteAt(bad).toString(16).padStart(2, "0")}, the red zone should be 0x${Poison.redZone.toString(16)}`,
    );
  }

  /** Panics if any byte of the free memory `[start + 1 granule, end)` lost its poison (a write after free). */
  checkPoison(start: number, end: number, operation: string): void {
    const { index, format } = this.context;
    const from = this.addressOf(start) + HEADER_SIZE;
    const to = this.addressOf(end);
    if (to <= from) return;
    const bad = this.scanner.firstMismatch(from, to - from, Poison.free);
    if (bad < 0) return;
    const block = index.blockContaining(start);
    const span =
      block >= 0
        ? `the free block ${format(this.addressOf(block))} (${index.sizeOf(block) * GRANULE} bytes)`
        : "free memory";
    throw new KernelPanic(
      "MEMORY_MANAGEMENT_ERROR",
      MODULE,
      `${operation}: Write after free detected: ${format(bad)} in ${span} is ` +
        `0x${this.scanner.byteAt(bad).toString(16).padStart(2, "0")}, freed memory should be 0x${Poison.free.toString(16)}`,
    );
  }

  /** Fills `[start, end)` and the header of a free block at `end` (about to be merged) with the free poison. */
  poisonFreed(start: number, end: number): void {
    const { index, memory } = this.context;
    let to = this.addressOf(end);
    if (end < index.top && (index.flagsOf(end) & Flag.Free) !== 0) to += HEADER_SIZE;
    memory.fill(this.addressOf(start), to - this.addressOf(start), Poison.free);
  }

  /** Marks payload bytes `[from, size)` of live block `block` as not yet written and the rest as red zone. */
  paintLive(block: number, from: number, size: number): void {
    const { index, memory } = this.context;
    const pointer = this.addressOf(block) + HEADER_SIZE;
    if (size > from) memory.fill(pointer + from, size - from, Poison.uninitialised);
    const end = this.addressOf(block) + index.sizeOf(block) * GRANULE;
    memory.fill(pointer + size, end - pointer - size, Poison.redZone);
  }

  private addressOf(block: number): VirtAddr {
    return this.context.base + block * GRANULE;
  }
}
