import type { HeapBlockInfo, OwnerContext, OwnerId } from "@ksim/core";
import { END_MAGIC, FIRST_BLOCK, FREE_BIT, HEADER_SIZE, MAGIC, MIN_BLOCK, SIZE_MASK } from "./layout.js";
import type { HeapShadow } from "./shadow.js";
import { type OwnerUsage, type SlabinfoRow, slabRow, slabRowNames } from "./stats.js";
import type { Tlsf } from "./tlsf.js";

/** What the reports read: the allocator's RAM structures, the shadow and the owner names. */
export interface ReportContext {
  readonly tlsf: Tlsf;
  readonly shadow: HeapShadow;
  readonly owners: OwnerContext;
  readonly redZone: number;
  /** The requested size of live block `block`. */
  readonly requestedOf: (block: number) => number;
}

/** Calls `visit` for every live block in address order, as the shadow knows them (robust to damaged headers). */
export function forEachLive(context: ReportContext, visit: (block: number) => void): void {
  const shadow = context.shadow;
  const end = Math.min(context.tlsf.top, shadow.capacity);
  for (let block = FIRST_BLOCK; block < end; block++) if (shadow.isLive(block)) visit(block);
}

/** What `blocks()` reports for live block `block`. */
export function blockInfo(context: ReportContext, block: number): HeapBlockInfo {
  return {
    address: context.tlsf.addressOf(block) + HEADER_SIZE,
    size: context.requestedOf(block),
    owner: context.shadow.ownerOf(block),
  };
}

/** Live blocks grouped by owner, largest total first. */
export function leaksByOwner(context: ReportContext): OwnerUsage[] {
  const groups = new Map<OwnerId, HeapBlockInfo[]>();
  forEachLive(context, (block) => {
    const info = blockInfo(context, block);
    const group = groups.get(info.owner);
    if (group) group.push(info);
    else groups.set(info.owner, [info]);
  });
  const usage = [...groups].map(([owner, allocations]) => ({
    owner,
    name: context.owners.nameOf(owner),
    blocks: allocations.length,
    bytes: allocations.reduce((sum, info) => sum + info.size, 0),
    allocations,
  }));
  return usage.sort((a, b) => b.bytes - a.bytes || a.owner - b.owner);
}

/**
 * Live and free blocks sorted into kmalloc-style caches. Walks the headers in RAM; stops at the first header that
 * does not make a block (heapCheck names it).
 */
export function slabinfo(context: ReportContext): SlabinfoRow[] {
  const { tlsf, shadow } = context;
  const names = slabRowNames();
  const rows = names.map(() => ({ activeObjects: 0, activeBytes: 0, blockBytes: 0, freeObjects: 0, freeBytes: 0 }));
  const end = tlsf.top - 1;
  let block = FIRST_BLOCK;
  while (block < end && tlsf.word(block, MAGIC) !== END_MAGIC) {
    const word = tlsf.sizeWord(block);
    const size = word & SIZE_MASK;
    if (size < MIN_BLOCK || block + size > end) break;
    const bytes = size * 16;
    if ((word & FREE_BIT) === 0 && shadow.isLive(block)) {
      const requested = context.requestedOf(block);
      const row = rows[slabRow(requested)]!;
      row.activeObjects++;
      row.activeBytes += requested;
      row.blockBytes += bytes;
    } else {
      const row = rows[slabRow(Math.max(0, bytes - HEADER_SIZE - context.redZone))]!;
      row.freeObjects++;
      row.freeBytes += bytes;
    }
    block += size;
  }
  return names.map((name, i) => ({ ...name, ...rows[i]! }));
}
