import { InvalidArgumentError, KernelPanic, type OwnerContext, type VirtAddr } from "@ksim/core";
import type { DebugGuard } from "./debug-guard.js";
import { describeBadPointer, describeBlock } from "./diagnose.js";
import type { HeaderCheck } from "./header.js";
import { FIRST_BLOCK, HEADER_SIZE, REQUESTED, SIZE_MASK } from "./layout.js";
import type { HeapShadow } from "./shadow.js";
import type { Tlsf } from "./tlsf.js";

const MODULE = "heap";

/** What the heap's panics read to name blocks. */
export interface PanicContext {
  readonly tlsf: Tlsf;
  readonly shadow: HeapShadow;
  readonly header: HeaderCheck;
  readonly owners: OwnerContext;
  readonly format: (address: VirtAddr) => string;
  /** Bytes of the window the heap may use. */
  readonly capacity: number;
  /** Debug mode's guard (red zones are checked with the header), or null. */
  readonly guard: DebugGuard | null;
  /** The entry point running (`kmalloc`, `kfree`, ...), named when the allocator finds damage mid-call. */
  readonly operation: () => string;
}

/**
 * How the heap turns what it finds into `KernelPanic(MEMORY_MANAGEMENT_ERROR)`, in the original kernel's words: a
 * pointer that is not a live block ("Invalid free detected", "Multiple free detected"), a damaged header ("Heap
 * corruption detected", naming the block before it as the likely culprit), damage the allocator met in its free
 * lists or control block. Each names the call, the pointer or block, its size and owner. Nothing here writes.
 */
export class HeapPanics {
  constructor(private readonly context: PanicContext) {}

  /**
   * The error that says why `pointer` is not a live block's: `InvalidArgumentError` when it is not a non-negative
   * integer, else a panic naming the reason.
   */
  badPointer(pointer: VirtAddr, operation: string): never {
    if (!(Number.isInteger(pointer) && pointer >= 0)) {
      throw new InvalidArgumentError("pointer", pointer, "not a non-negative integer address");
    }
    const { tlsf, shadow, capacity, format } = this.context;
    const why = describeBadPointer({ tlsf, shadow, capacity, format }, pointer, (block) => this.describe(block));
    throw new KernelPanic("MEMORY_MANAGEMENT_ERROR", MODULE, `${operation}(${format(pointer)}): ${why}`);
  }

  /** Checks live block `block`'s whole header (and in debug mode its red zone); panics naming the damage. */
  verify(block: number, operation: string): void {
    const { tlsf, header, format, guard } = this.context;
    const damage = header.damage(block);
    if (damage !== "") {
      const before = this.liveBlockBefore(block);
      const culprit =
        before >= 0
          ? `a potential overrun of the block before it, ${this.describe(before)}, or an underrun of this one`
          : "an underrun of this block or a stray write";
      throw new KernelPanic(
        "MEMORY_MANAGEMENT_ERROR",
        MODULE,
        `${operation}(${format(tlsf.addressOf(block) + HEADER_SIZE)}): Heap corruption detected: the header of ` +
          `${this.describe(block)} was overwritten (${damage}): ${culprit}`,
      );
    }
    if (guard !== null) guard.checkRedZone(block, tlsf.word(block, REQUESTED), operation);
  }

  /** Panics for damage the allocator found in RAM: `block` is the block it was reading (0: the control block). */
  corruption(block: number, detail: string): never {
    const { tlsf, shadow, format } = this.context;
    let where = "the heap's control block";
    if (block >= FIRST_BLOCK) {
      where = shadow.isLive(block)
        ? this.describe(block)
        : `the free block at ${format(tlsf.addressOf(block) + HEADER_SIZE)}`;
    }
    throw new KernelPanic(
      "MEMORY_MANAGEMENT_ERROR",
      MODULE,
      `${this.context.operation()}: Heap corruption detected at ${where}: ${detail}`,
    );
  }

  /** "the block 0xFFFF... (24 bytes, owner \"kernel\")"; the size only when the header is consistent. */
  describe(block: number): string {
    const { tlsf, shadow, header, owners, format } = this.context;
    const requested = header.requestedIfSane(block);
    return describeBlock(
      format(tlsf.addressOf(block) + HEADER_SIZE),
      requested < 0 ? null : requested,
      owners.nameOf(shadow.ownerOf(block)),
    );
  }

  /** The live block that ends where block `block` starts, found through the shadow, or -1. */
  private liveBlockBefore(block: number): number {
    const { tlsf, shadow } = this.context;
    const before = shadow.liveBefore(block, FIRST_BLOCK);
    if (before < 0) return -1;
    return before + (tlsf.sizeWord(before) & SIZE_MASK) === block ? before : -1;
  }
}
