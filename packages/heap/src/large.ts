import type { VirtAddr, VirtualMemory } from "@ksim/core";
import { descriptorOf, LARGE_LIVE, LINK, OWNER, PAGE, SIZE, sealOf, TAG } from "./layout.js";
import { type HeapShadow, LARGE_KIND } from "./shadow.js";
import type { HeapSpace } from "./space.js";

/** The smallest virtual room a large block reserves, in pages (room to grow in place). */
const MIN_RESERVE = 16;

/** A large block's header, read from its first page's descriptor. */
export interface LargeHeader {
  tag: number;
  size: number;
  seal: number;
  owner: number;
}

/**
 * Large blocks (above 32 KiB, or aligned beyond 16 bytes): whole pages with a page-aligned pointer; the header is the
 * first page's descriptor, so the block's pages hold only its bytes. Each block reserves virtual room for twice its
 * pages rounded up to a power of two (at least 16), mapped only as far as needed, so krealloc grows it in place by
 * mapping the pages after it and shrinks it by unmapping its tail.
 */
export class LargeBlocks {
  /** Live large blocks: first page -> {reserved pages, alignment in pages}. */
  readonly spans = new Map<number, { readonly reserved: number; readonly align: number }>();
  /** Pages mapped for large blocks. */
  mappedPages = 0;
  private readonly header: LargeHeader = { tag: 0, size: 0, seal: 0, owner: 0 };

  constructor(
    private readonly memory: VirtualMemory,
    private readonly space: HeapSpace,
    private readonly shadow: HeapShadow,
  ) {}

  /**
   * Maps a block of `size` bytes (plus `slack` bytes of red zone) at a multiple of `align` pages for `owner`.
   * Returns its first page, or -1 (nothing changed) when the window or frames run out.
   */
  allocate(size: number, slack: number, align: number, owner: number): number {
    const pages = pagesFor(size, slack);
    // A power of two, so that freed rooms are reused by blocks of other sizes and the used window stays bounded.
    const reserved = Math.max(MIN_RESERVE, 2 ** Math.ceil(Math.log2(2 * pages)));
    const page = this.space.take(pages, reserved, align);
    if (page < 0) return -1;
    this.spans.set(page, { reserved, align });
    this.shadow.setKind(page, pages, LARGE_KIND);
    this.shadow.forgetGiven(page, pages);
    this.mappedPages += pages;
    this.writeHeader(page, size, owner);
    this.shadow.setLive(page * PAGE);
    return page;
  }

  /** The header of the large block at `page` (the object is reused: read it before the next call). */
  readHeader(page: number): LargeHeader {
    const at = this.space.base + descriptorOf(page);
    const header = this.header;
    header.tag = this.memory.read32(at + TAG);
    header.size = this.memory.read32(at + SIZE);
    header.seal = this.memory.read32(at + LINK);
    header.owner = this.memory.read32(at + OWNER);
    return header;
  }

  /** Whether the header of the block at `page` is intact and its size fits its mapped pages less `slack`. */
  intact(page: number, slack: number): boolean {
    const header = this.readHeader(page);
    return (
      header.tag === LARGE_LIVE &&
      header.seal === sealOf(header.size, header.owner, descriptorOf(page)) &&
      this.mapped(page) === pagesFor(header.size, slack)
    );
  }

  /** Pages mapped for the block at `page` (from the kinds shadow). */
  mapped(page: number): number {
    const kinds = this.shadow.kinds;
    const end = page + (this.spans.get(page)?.reserved ?? 0);
    let at = page;
    while (at < end && kinds[at] === LARGE_KIND) at++;
    return at - page;
  }

  /** Frees the block at `page` (header checked by the caller): clears its descriptor, unmaps it, gives its room back. */
  free(page: number): void {
    const span = this.spans.get(page)!;
    const pages = this.mapped(page);
    this.memory.fill(this.space.base + descriptorOf(page), 16, 0);
    this.shadow.clearLive(page * PAGE);
    this.shadow.setKind(page, pages, 0);
    this.space.unmap(page, pages);
    this.mappedPages -= pages;
    this.spans.delete(page);
    this.space.giveVirtual(page, span.reserved, span.align);
  }

  /**
   * Resizes the block at `page` in place to `size` bytes (plus `slack`): maps pages after it when it grows within its
   * reserved room, unmaps its tail when it shrinks. False (nothing changed) when it cannot.
   */
  resize(page: number, size: number, slack: number, owner: number): boolean {
    const span = this.spans.get(page)!;
    const old = this.mapped(page);
    const pages = pagesFor(size, slack);
    if (pages > span.reserved) return false;
    if (pages > old) {
      if (!this.space.map(page + old, pages - old)) return false;
      this.shadow.setKind(page + old, pages - old, LARGE_KIND);
    } else if (pages < old) {
      this.shadow.setKind(page + pages, old - pages, 0);
      this.space.unmap(page + pages, old - pages);
    }
    this.mappedPages += pages - old;
    this.writeHeader(page, size, owner);
    return true;
  }

  private writeHeader(page: number, size: number, owner: number): void {
    const at: VirtAddr = this.space.base + descriptorOf(page);
    this.memory.write32(at + TAG, LARGE_LIVE);
    this.memory.write32(at + SIZE, size);
    this.memory.write32(at + LINK, sealOf(size, owner, descriptorOf(page)));
    this.memory.write32(at + OWNER, owner);
  }
}

/** Pages a large block of `size` bytes plus `slack` needs (at least one). */
export function pagesFor(size: number, slack: number): number {
  return Math.max(1, Math.ceil((size + slack) / PAGE));
}
