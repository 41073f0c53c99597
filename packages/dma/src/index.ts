export { type FreeExtent, RangeAllocator, type RangeAllocatorOptions } from "./range-allocator.js";
