export {
  Dma,
  type DmaAllocation,
  type DmaArch,
  type DmaFailureReason,
  type DmaMapping,
  type DmaOptions,
  type DmaRequest,
  type MmioMapping,
  type MmioRequest,
  type WindowUsage,
} from "./dma.js";
export { DmaError, type DmaProblem } from "./errors.js";
export { type FreeExtent, RangeAllocator, type RangeAllocatorOptions } from "./range-allocator.js";
