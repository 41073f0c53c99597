export type { HeapCheckReport, HeapProblem, HeapProblemKind } from "./check.js";
export { MAX_PROBLEMS } from "./check.js";
export { MAX_SLAB_SIZE, SizeClasses } from "./classes.js";
export { Poison, RED_ZONE } from "./debug.js";
export { Heap, type HeapOptions } from "./heap.js";
export { HEADER_SIZE } from "./layout.js";
export { QUARANTINE_OBJECTS } from "./quarantine.js";
export { HEAP_PROTECTION } from "./space.js";
export { formatSlabinfo, type HeapStatistics, type OwnerUsage, type SlabinfoRow } from "./stats.js";
export {
  type HeapTrace,
  parseTrace,
  type ReplayOptions,
  type ReplayResult,
  replayTrace,
  TraceOp,
  type TraceOpCode,
  type TraceTarget,
  tracePeaks,
  tracePrefix,
} from "./trace.js";
