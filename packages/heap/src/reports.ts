import type { HeapBlockInfo, OwnerContext, OwnerId, VirtAddr } from "@ksim/core";
import type { SizeClasses } from "./classes.js";
import type { DebugGuard } from "./debug-guard.js";
import type { Inspector } from "./inspect.js";
import type { LargeBlocks } from "./large.js";
import type { HeapShadow } from "./shadow.js";
import type { Slabs } from "./slabs.js";
import type { OwnerUsage, SlabinfoRow } from "./stats.js";

/** What the block reports read. */
export interface ReportContext {
  readonly base: VirtAddr;
  readonly shadow: HeapShadow;
  readonly inspector: Inspector;
  /** One past the highest window offset in use. */
  readonly top: number;
}

/** Every live block in address order, as the shadow knows them (size and owner from their headers). */
export function blocks(context: ReportContext): HeapBlockInfo[] {
  const list: HeapBlockInfo[] = [];
  context.shadow.forEachLive(context.top, (user) => {
    const block = context.inspector.at(user);
    list.push({ address: context.base + user, size: block.size, owner: block.owner });
  });
  return list;
}

/** Live blocks grouped by owner, largest total first. */
export function leaksByOwner(context: ReportContext, owners: OwnerContext): OwnerUsage[] {
  const groups = new Map<OwnerId, HeapBlockInfo[]>();
  for (const info of blocks(context)) {
    const group = groups.get(info.owner);
    if (group) group.push(info);
    else groups.set(info.owner, [info]);
  }
  const usage = [...groups].map(([owner, allocations]) => ({
    owner,
    name: owners.nameOf(owner),
    blocks: allocations.length,
    bytes: allocations.reduce((sum, info) => sum + info.size, 0),
    allocations,
  }));
  return usage.sort((a, b) => b.bytes - a.bytes || a.owner - b.owner);
}

/** The slabinfo rows, from the caches' counters (no walk). */
export function slabinfo(
  classes: SizeClasses,
  slabs: Slabs,
  large: LargeBlocks,
  guard: DebugGuard | null,
): SlabinfoRow[] {
  const rows: SlabinfoRow[] = [];
  for (let c = 0; c < classes.count; c++) {
    const total = slabs.slabs[c]! * classes.perSlab[c]!;
    rows.push({
      name: classes.name(c),
      objectSize: classes.user[c]!,
      slotSize: classes.slot[c]!,
      activeObjects: total - slabs.listed[c]! - (guard?.quarantined[c] ?? 0),
      totalObjects: total,
      objectsPerSlab: classes.perSlab[c]!,
      pagesPerSlab: classes.pages[c]!,
      slabs: slabs.slabs[c]!,
      pages: slabs.slabs[c]! * classes.pages[c]!,
    });
  }
  rows.push({
    name: "kmalloc-large",
    objectSize: Number.POSITIVE_INFINITY,
    slotSize: 0,
    activeObjects: large.spans.size,
    totalObjects: large.spans.size,
    objectsPerSlab: 1,
    pagesPerSlab: 0,
    slabs: large.spans.size,
    pages: large.mappedPages,
  });
  return rows;
}
