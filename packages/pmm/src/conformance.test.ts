import type { FrameAllocator } from "@ksim/core";
import { BuddyAllocator } from "./buddy-allocator.js";
import { describeFrameAllocatorConformance } from "./conformance.js";

const snapshot = (a: FrameAllocator) => (a as BuddyAllocator).snapshot();

describeFrameAllocatorConformance("BuddyAllocator", (map) => new BuddyAllocator(map), { snapshot });
describeFrameAllocatorConformance(
  "BuddyAllocator without a frame cache",
  (map) => new BuddyAllocator(map, { frameCache: 0 }),
  {
    snapshot,
  },
);
describeFrameAllocatorConformance(
  "BuddyAllocator with max order 3 and a 4-frame cache",
  (map) => new BuddyAllocator(map, { maxOrder: 3, frameCache: 4 }),
  { snapshot },
);
