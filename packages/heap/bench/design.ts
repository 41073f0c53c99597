import { type HeapTrace, TraceOp } from "../src/trace.js";

/**
 * The design measurement behind choosing TLSF over size-class slabs: the peak of the bytes a slab allocator would
 * hold for the trace's live blocks from rounding alone (power-of-two caches from 16 B to 128 KiB as in the later
 * Hexahedron kernel, larger requests rounded to whole pages), ignoring partly empty slabs, which only add to it.
 */
export function slabRoundingPeak(trace: HeapTrace): number {
  const held = new Float64Array(trace.maxId + 1);
  let live = 0;
  let peak = 0;
  const hold = (id: number, size: number) => {
    held[id] = roundToCache(size);
    live += held[id]!;
    if (live > peak) peak = live;
  };
  const drop = (id: number) => {
    live -= held[id]!;
    held[id] = 0;
  };
  for (let i = 0; i < trace.length; i++) {
    const id = trace.ids[i]!;
    switch (trace.ops[i]) {
      case TraceOp.Free:
        drop(id);
        break;
      case TraceOp.Realloc:
        drop(id);
        if (trace.args[i]! !== 0) hold(trace.args[i]!, trace.sizes[i]!);
        break;
      case TraceOp.Calloc:
        hold(id, trace.args[i]! * trace.sizes[i]!);
        break;
      default:
        hold(id, trace.sizes[i]!);
    }
  }
  return peak;
}

function roundToCache(size: number): number {
  if (size > 128 * 1024) return Math.ceil(size / 4096) * 4096;
  let cache = 16;
  while (cache < size) cache *= 2;
  return cache;
}
