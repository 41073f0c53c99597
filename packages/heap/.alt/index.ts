export type { HeapCheckReport, HeapProblem, HeapProblemKind } from "./check.js";
export { MAX_PROBLEMS } from "./check.js";
export { Poison, RED_ZONE } from "./debug.js";
export { Heap, type HeapOptions } from "./heap.js";
export {
  CONTROL_BYTES,
  CONTROL_MAGIC,
  END_MAGIC,
  FREE_MAGIC,
  GRANULE,
  HEADER_SIZE,
  LIVE_MAGIC,
} from "./layout.js";
export { HEAP_PROTECTION } from "./pages.js";
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
