import { KernelPanic, type VirtAddr, type VirtualMemory } from "@ksim/core";
import { PatternScanner, Poison } from "./debug.js";
import { GRANULE, HEADER_SIZE, SIZE_MASK } from "./layout.js";
import type { Tlsf } from "./tlsf.js";

/** What the debug guard needs from its heap: where blocks are and how to name them in a panic. */
export interface DebugGuardContext {
  readonly memory: VirtualMemory;
  readonly tlsf: Tlsf;
  readonly format: (address: VirtAddr) => string;
  /** "the block 0xFFFF... (24 bytes, owner \"kernel\")" for live block `block`. */
  readonly describe: (block: number) => string;
}

const MODULE = "heap";

/**
 * Bytes at the start of a free block that are not poisoned: its header and its previous-free link (the first
 * payload word).
 */
export const FREE_UNPOISONED = HEADER_SIZE + 4;

/**
 * The heap's debug mode (in the spirit of KASAN and SLUB debugging) in one place: red zones painted after every
 * live block and checked when it is freed or resized, freed memory poisoned and checked when it is handed out again,
 * new payloads filled with a marker byte. Every byte of a free block but its header and previous-free link is
 * poison. Each check panics with `KernelPanic(MEMORY_MANAGEMENT_ERROR)` naming the first bad byte, and changes
 * nothing.
 */
export class DebugGuard {
  /** The scanner the checks use (also heapCheck's). */
  readonly scanner: PatternScanner;

  constructor(private readonly context: DebugGuardContext) {
    this.scanner = new PatternScanner(context.memory);
  }

  /** Panics if the red zone of live block `block` (after its `requested` bytes) was written. */
  checkRedZone(block: number, requested: number, operation: string): void {
    const { tlsf, format, describe } = this.context;
    const address = tlsf.addressOf(block);
    const zoneStart = address + HEADER_SIZE + requested;
    const end = address + (tlsf.sizeWord(block) & SIZE_MASK) * GRANULE;
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

  /**
   * Panics if any byte of the free memory from free block `start` (past its header and link) up to granule `end`
   * lost its poison (a write after free).
   */
  checkPoison(start: number, end: number, operation: string): void {
    const { tlsf, format } = this.context;
    const from = tlsf.addressOf(start) + FREE_UNPOISONED;
    const to = tlsf.addressOf(end);
    if (to <= from) return;
    const bad = this.scanner.firstMismatch(from, to - from, Poison.free);
    if (bad < 0) return;
    const block = tlsf.blockContaining(start);
    const span =
      block >= 0
        ? `the free block ${format(tlsf.addressOf(block))} (${(tlsf.sizeWord(block) & SIZE_MASK) * GRANULE} bytes)`
        : "free memory";
    throw new KernelPanic(
      "MEMORY_MANAGEMENT_ERROR",
      MODULE,
      `${operation}: Write after free detected: ${format(bad)} in ${span} is ` +
        `0x${this.scanner.byteAt(bad).toString(16).padStart(2, "0")}, freed memory should be 0x${Poison.free.toString(16)}`,
    );
  }

  /**
   * Poisons what a free just added to free block `start`: granules `[from, to)` (past `start`'s header and link when
   * `from` is `start`), and the header and link of `mergedNext` (a free block merged into it, 0 if none).
   */
  poisonFreed(start: number, from: number, to: number, mergedNext: number): void {
    const { tlsf, memory } = this.context;
    const first = tlsf.addressOf(from) + (from === start ? FREE_UNPOISONED : 0);
    const last = tlsf.addressOf(to);
    if (last > first) memory.fill(first, last - first, Poison.free);
    if (mergedNext !== 0) memory.fill(tlsf.addressOf(mergedNext), FREE_UNPOISONED, Poison.free);
  }

  /** Poisons one granule that just became the inside of a free block (a former end marker). */
  poisonGranule(granule: number): void {
    this.context.memory.fill(this.context.tlsf.addressOf(granule), GRANULE, Poison.free);
  }

  /** Marks payload bytes `[from, size)` of live block `block` as not yet written and the rest as red zone. */
  paintLive(block: number, from: number, size: number): void {
    const { tlsf, memory } = this.context;
    const pointer = tlsf.addressOf(block) + HEADER_SIZE;
    if (size > from) memory.fill(pointer + from, size - from, Poison.uninitialised);
    const end = tlsf.addressOf(block) + (tlsf.sizeWord(block) & SIZE_MASK) * GRANULE;
    memory.fill(pointer + size, end - pointer - size, Poison.redZone);
  }
}
