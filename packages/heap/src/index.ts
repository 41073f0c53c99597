export type { HeapCheckReport, HeapProblem, HeapProblemKind } from "./check.js";
export { MAX_PROBLEMS } from "./check.js";
export { Poison, RED_ZONE } from "./debug.js";
export { FREE_MAGIC, HEADER_SIZE, LIVE_MAGIC } from "./header.js";
export { Heap, type HeapOptions } from "./heap.js";
export { HEAP_PROTECTION } from "./pages.js";
export { formatSlabinfo, type HeapStatistics, type OwnerUsage, type SlabinfoRow } from "./stats.js";
export { GRANULE } from "./tlsf.js";
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
