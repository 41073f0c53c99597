import type { VirtualMemory } from "@ksim/core";
import type { SizeClasses } from "./classes.js";
import type { LargeBlocks } from "./large.js";
import { descriptorOf, HEADER_SIZE, LARGE_LIVE, LINK, liveWord, OWNER, PAGE, SIZE, sealOf, TAG } from "./layout.js";
import { type HeapShadow, LARGE_KIND } from "./shadow.js";
import { hex } from "./slabs.js";

/** What the heap knows about a block (live or not) from the shadow and its header in RAM. */
export interface BlockFacts {
  /** The user pointer's offset from the window base. */
  readonly user: number;
  /** Its class, or -1 for a large block. */
  readonly c: number;
  /** Offset of its header: in front of the object, or a large block's descriptor. */
  readonly header: number;
  /** Bytes from the user pointer to the end of its slot or of its mapped pages. */
  readonly capacity: number;
  /** Word 0 of the header. */
  readonly tag: number;
  /** The requested size, owner and whether the header is a consistent live header (tag, seal, size within capacity). */
  readonly size: number;
  readonly owner: number;
  /** Word 2 of the header: the check word of a live block. */
  readonly seal: number;
  readonly intact: boolean;
}

/**
 * Reads blocks for reports, checks and panics, never trusting RAM: where a slot or span is comes from the shadow's
 * page kinds and the class arithmetic; the header only says what it says, with `intact` telling whether to believe
 * it.
 */
export class Inspector {
  constructor(
    private readonly memory: VirtualMemory,
    private readonly base: number,
    private readonly shadow: HeapShadow,
    private readonly classes: SizeClasses,
    private readonly large: LargeBlocks,
    private readonly redZone: number,
    /** The first window page slabs and large blocks may use. */
    readonly firstData: number,
  ) {}

  /**
   * The slot or large block whose bytes (header included) contain window offset `offset`, as facts about the
   * block whose user pointer it has; null when `offset` is in no slot (control page, descriptors, unmapped, tail).
   */
  containing(offset: number): BlockFacts | null {
    if (!(offset >= 0 && offset < this.shadow.kinds.length * PAGE)) return null;
    const page = Math.floor(offset / PAGE);
    const kind = this.shadow.kinds[page]!;
    if (kind === LARGE_KIND) {
      let first = page;
      while (!this.large.spans.has(first) && first > 0 && this.shadow.kinds[first - 1] === LARGE_KIND) first--;
      return this.large.spans.has(first) ? this.at(first * PAGE) : null;
    }
    if (kind === 0) return null;
    const c = kind - 1;
    const head = page - (page % this.classes.pages[c]!);
    const index = Math.floor((offset - head * PAGE) / this.classes.slot[c]!);
    if (index >= this.classes.perSlab[c]!) return null;
    return this.at(head * PAGE + index * this.classes.slot[c]! + HEADER_SIZE);
  }

  /** Facts about the block whose user pointer is at `user` (a slot's user start or a large block's first page). */
  at(user: number): BlockFacts {
    const page = Math.floor(user / PAGE);
    if (this.shadow.kinds[page] === LARGE_KIND && user % PAGE === 0 && this.large.spans.has(page)) {
      const header = this.large.readHeader(page);
      const capacity = this.large.mapped(page) * PAGE;
      // The size must also need exactly the mapped pages (checked by `intact`).
      const intact =
        header.tag === LARGE_LIVE &&
        header.seal === sealOf(header.size, header.owner, descriptorOf(page)) &&
        this.large.intact(page, this.redZone);
      return { user, c: -1, header: descriptorOf(page), capacity, ...header, intact };
    }
    const h = user - HEADER_SIZE;
    const c = this.shadow.kinds[Math.floor(h / PAGE)]! - 1;
    const capacity = this.classes.user[c]!;
    const at = this.base + h;
    const tag = this.memory.read32(at + TAG);
    const size = this.memory.read32(at + SIZE);
    const owner = this.memory.read32(at + OWNER);
    const seal = this.memory.read32(at + LINK);
    const intact = tag === liveWord(c) && seal === sealOf(size, owner, h) && size <= capacity - this.redZone;
    return { user, c, header: h, capacity, tag, size, owner, seal, intact };
  }

  /** What is wrong with the header of `block` (a live block's), in words; "" when it is intact. */
  damage(block: BlockFacts): string {
    const expected = block.c < 0 ? LARGE_LIVE : liveWord(block.c);
    if (block.tag !== expected) return `its tag reads 0x${hex(block.tag)}, expected 0x${hex(expected)}`;
    if (block.seal !== sealOf(block.size, block.owner, block.header)) {
      return `its check word 0x${hex(block.seal)} does not match its size ${block.size} and owner ${block.owner}`;
    }
    if (block.size > block.capacity - this.redZone) {
      return `its size ${block.size} is larger than its ${block.c < 0 ? "mapped pages" : "slot"} (${block.capacity - this.redZone} bytes)`;
    }
    return block.intact ? "" : `its size ${block.size} does not match its ${block.capacity / PAGE} mapped pages`;
  }
}
