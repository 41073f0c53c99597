export {
  BuddyAllocator,
  type BuddyAllocatorOptions,
  type BuddySnapshot,
  formatBytes,
  MAX_ORDER_LIMIT,
  type ManagedRegion,
  type ZoneBuddyInfo,
} from "./buddy-allocator.js";
export { SECTION_FRAMES } from "./frame-table.js";
export { LevelBitmap } from "./level-bitmap.js";
export { computeUsableLayout, LOW_RESERVED_FRAMES, MAX_MANAGED_FRAMES, type UsableLayout } from "./memory-layout.js";
export { createPmmApi, type PmmApi } from "./pmm-api.js";
export { ZONE_NAMES, type ZoneName } from "./zones.js";
