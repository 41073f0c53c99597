import { InvalidArgumentError, KernelPanic, type OwnerContext, type VirtAddr } from "@ksim/core";
import type { SizeClasses } from "./classes.js";
import type { BlockFacts, Inspector } from "./inspect.js";
import { CONTROL_ROW, DESCRIPTORS, freeWord, PAGE, QUARANTINE_TAG } from "./layout.js";
import { type HeapShadow, LARGE_KIND } from "./shadow.js";

const MODULE = "heap";

/** What the heap's panics read to name blocks. */
export interface PanicContext {
  readonly base: VirtAddr;
  /** Bytes of window the heap may use. */
  readonly capacity: number;
  readonly shadow: HeapShadow;
  readonly classes: SizeClasses;
  readonly inspector: Inspector;
  readonly owners: OwnerContext;
  readonly format: (address: VirtAddr) => string;
  /** One past the highest window offset in use. */
  readonly top: () => number;
  /** The entry point running (`kmalloc`, `kfree`, ...), named when the allocator finds damage mid-call. */
  readonly operation: () => string;
}

/**
 * How the heap turns what it finds into `KernelPanic(MEMORY_MANAGEMENT_ERROR)`, in the original kernel's words: a
 * pointer that is not a live block ("Invalid free detected", "Multiple free detected"), a damaged header ("Heap
 * corruption detected", naming the block before it as the likely culprit), damage the allocator met in its lists,
 * control page or descriptors. Each names the call, the pointer or block, its size and owner. Nothing here writes.
 */
export class HeapPanics {
  constructor(private readonly context: PanicContext) {}

  /** `InvalidArgumentError` when `pointer` is not a non-negative integer, else a panic saying why it is no live block. */
  badPointer(pointer: VirtAddr, operation: string): never {
    if (!(Number.isInteger(pointer) && pointer >= 0)) {
      throw new InvalidArgumentError("pointer", pointer, "not a non-negative integer address");
    }
    const { format } = this.context;
    let why = this.why(pointer);
    // liballoc's words are about frees; a call that only looks at the block (sizeOf) says what it met instead.
    if (operation !== "kfree" && operation !== "krealloc") {
      why = why
        .replace(/^Multiple free detected/, "Use after free detected")
        .replace(/^Invalid free detected/, "Invalid pointer");
    }
    throw new KernelPanic("MEMORY_MANAGEMENT_ERROR", MODULE, `${operation}(${format(pointer)}): ${why}`);
  }

  /** Panics for live block `block` whose header was overwritten, naming the likely culprit. */
  headerDamage(block: BlockFacts, operation: string): never {
    const { base, format, inspector } = this.context;
    const before = block.c >= 0 ? inspector.containing(block.header - 1) : null;
    const culprit =
      before !== null && before.c === block.c && this.context.shadow.isLive(before.user)
        ? `a potential overrun of the block before it, ${this.describe(before)}, or an underrun of this one`
        : "an underrun of this block or a stray write";
    const damage =
      `Heap corruption detected: the header of ${this.describe(block)} was overwritten ` +
      `(${inspector.damage(block)}): ${culprit}`;
    throw new KernelPanic("MEMORY_MANAGEMENT_ERROR", MODULE, `${operation}(${format(base + block.user)}): ${damage}`);
  }

  /** Debug mode: panics for a live block whose red zone byte at `offset` (from its pointer) reads `byte`. */
  overflow(block: BlockFacts, operation: string, offset: number, byte: number): never {
    const { base, format } = this.context;
    throw new KernelPanic(
      "MEMORY_MANAGEMENT_ERROR",
      MODULE,
      `${operation}(${format(base + block.user)}): Heap overflow detected: ${this.describe(block)} was written past ` +
        `its end: byte +${offset} of its red zone reads 0x${byte.toString(16)}`,
    );
  }

  /** Panics for damage the allocator met at window offset `offset` (a header, a descriptor or a control row). */
  corruption(offset: number, detail: string): never {
    const { base, format, classes, inspector } = this.context;
    let where: string;
    if (offset < PAGE) where = `the control page (the list head of ${classes.name(Math.floor(offset / CONTROL_ROW))})`;
    else if (offset < inspector.firstData * PAGE) {
      where = `the descriptor of the page at ${format(base + ((offset - DESCRIPTORS) / 16) * PAGE)}`;
    } else {
      const block = inspector.containing(offset);
      where =
        block === null
          ? format(base + offset)
          : this.context.shadow.isLive(block.user)
            ? this.describe(block)
            : `the free object at ${format(base + block.user)} (${classes.name(block.c)})`;
    }
    throw new KernelPanic(
      "MEMORY_MANAGEMENT_ERROR",
      MODULE,
      `${this.context.operation()}: Heap corruption detected at ${where}: ${detail}`,
    );
  }

  /** `the block 0xFFFF... (24 bytes, owner "kernel")`; the size and owner only when the header is intact. */
  describe(block: BlockFacts): string {
    const { base, format, owners } = this.context;
    const pointer = format(base + block.user);
    if (!block.intact) return `the block ${pointer} (size and owner unknown: its header is damaged)`;
    return `the block ${pointer} (${block.size} bytes, owner ${JSON.stringify(owners.nameOf(block.owner))})`;
  }

  /** Why `pointer` (a non-negative integer) is not a live block's pointer. */
  private why(pointer: VirtAddr): string {
    const { base, capacity, format, shadow, inspector, top } = this.context;
    const end = base + capacity;
    if (pointer < base || pointer >= end) {
      return `Invalid free detected: not a heap pointer (the heap window is ${format(base)}-${format(end - 1)})`;
    }
    const offset = pointer - base;
    if (offset < PAGE) return "Invalid free detected: points into the heap's control page (its free-list heads)";
    if (offset < inspector.firstData * PAGE) return "Invalid free detected: points into the heap's page descriptors";
    const inUse = offset < top();
    const block = inUse ? inspector.containing(offset) : null;
    if (block === null) {
      const kind = inUse ? shadow.kinds[Math.floor(offset / PAGE)]! : 0;
      if (kind !== 0 && kind !== LARGE_KIND) {
        return `Invalid free detected: points into the unused tail of a ${this.context.classes.name(kind - 1)} slab, never a block`;
      }
      if (shadow.wasGiven(offset)) {
        // Only large blocks have page-aligned pointers (a slab object's header comes first).
        const what = offset % PAGE === 0 ? "large block" : "block";
        return `Multiple free detected: the ${what} at ${format(pointer)} was already freed (its memory has since gone back to the frame allocator)`;
      }
      if (!inUse)
        return `Invalid free detected: not a block of this heap (above its used window ${format(base + top())})`;
      return "Invalid free detected: not a block of this heap (no slab or large block is there, and none was)";
    }
    if (block.user === offset) {
      const freed = block.tag === freeWord(block.c) || block.tag >>> 16 === QUARANTINE_TAG;
      if (freed && !shadow.isLive(offset)) {
        return shadow.wasGiven(offset)
          ? `Multiple free detected: the block at ${format(pointer)} was already freed`
          : `Invalid free detected: points to a free slot of ${this.context.classes.name(block.c)} that no block has had yet`;
      }
    }
    if (shadow.isLive(block.user)) {
      return `Invalid free detected: points inside ${this.describe(block)}, not at its start`;
    }
    return `Invalid free detected: points into a free object of ${this.context.classes.name(block.c)} at ${format(base + block.user)}, never a block`;
  }
}
