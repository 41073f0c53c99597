import type { PhysAddr, VirtAddr } from "./address.js";
import type { AccessKind, PageFaultInfo } from "./errors.js";
import type { MemoryTypeValue } from "./memory-type.js";

/** Details of the last successful translation, in an object the MMU reuses (hot paths allocate nothing). */
export interface TranslationInfo {
  physical: PhysAddr;
  memoryType: MemoryTypeValue;
  /** Size of the page that mapped the address: 4 KiB, 2 MiB or 1 GiB. */
  pageSize: number;
  writable: boolean;
  user: boolean;
  executable: boolean;
  global: boolean;
}

/**
 * The hardware MMU: translates linear addresses by walking the page tables in physical memory, with a TLB.
 * It does what the CPU does: sets Accessed/Dirty bits, checks permissions, and raises faults. It never edits
 * mappings itself. Architecture packages extend it with their control registers.
 */
export interface Mmu {
  /**
   * Translates one access. Returns the physical address, or -1 when the access faults; then `lastFault` describes
   * the fault. On success `lastTranslation` holds the details. Allocates nothing.
   */
  translate(linear: VirtAddr, access: AccessKind, user: boolean): number;
  /** Like `translate`, but throws `PageFault` (or `GeneralProtectionFault`) instead of returning -1. */
  translateOrThrow(linear: VirtAddr, access: AccessKind, user: boolean): PhysAddr;
  readonly lastTranslation: Readonly<TranslationInfo>;
  readonly lastFault: Readonly<PageFaultInfo>;
  /** Drops any cached translation of the page holding `linear` (invlpg). */
  invalidate(linear: VirtAddr): void;
  /** Drops every cached translation; global ones only when `includeGlobal` (as a CR4.PGE toggle does). */
  flushAll(includeGlobal?: boolean): void;
  /** TLB statistics since the last reset. */
  readonly tlbStats: { readonly hits: number; readonly misses: number; readonly flushes: number };
}
