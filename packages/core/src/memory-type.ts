/**
 * Effective memory types, with their x86 PAT encodings as values. Other architectures map their attributes onto
 * the same set.
 */
export const MemoryType = {
  /** Uncacheable. */
  UC: 0x00,
  /** Write-combining (framebuffers). */
  WC: 0x01,
  /** Write-through. */
  WT: 0x04,
  /** Write-protected. */
  WP: 0x05,
  /** Write-back: normal RAM. */
  WB: 0x06,
  /** UC-: uncacheable, but an MTRR may make it WC. */
  UC_MINUS: 0x07,
} as const;
export type MemoryTypeValue = (typeof MemoryType)[keyof typeof MemoryType];

/** Short name of a memory type ("UC", "WC", "WT", "WP", "WB", "UC-"). */
export function memoryTypeName(type: MemoryTypeValue): string {
  switch (type) {
    case MemoryType.UC:
      return "UC";
    case MemoryType.WC:
      return "WC";
    case MemoryType.WT:
      return "WT";
    case MemoryType.WP:
      return "WP";
    case MemoryType.WB:
      return "WB";
    case MemoryType.UC_MINUS:
      return "UC-";
  }
}
