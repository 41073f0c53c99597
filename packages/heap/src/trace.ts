import type { HeapApi, VirtAddr, VirtualMemory } from "@ksim/core";

/**
 * Allocation traces: malloc-family call sequences recorded from real programs (format of
 * `traces/README.md` in the repository), parsed into typed arrays and replayed through any kmalloc-style heap.
 *
 * ```
 * m ID SIZE          malloc            c ID NMEMB SIZE    calloc
 * r OLD NEW SIZE     realloc           a ID ALIGN SIZE    aligned allocation
 * f ID               free
 * ```
 * IDs name live blocks and are reused after free; 0 is NULL.
 */

/** Operation codes of a parsed trace. */
export const TraceOp = { Malloc: 0, Calloc: 1, Realloc: 2, Aligned: 3, Free: 4 } as const;
/** One of the {@link TraceOp} codes. */
export type TraceOpCode = (typeof TraceOp)[keyof typeof TraceOp];

/** A parsed trace: one entry per call in four parallel arrays. */
export interface HeapTrace {
  readonly length: number;
  /** {@link TraceOp} per call. */
  readonly ops: Uint8Array;
  /** Block id: the new block (m, c, a), the old block (r, f). */
  readonly ids: Int32Array;
  /** The new id of a realloc; the element count of a calloc; the alignment of an aligned allocation. */
  readonly args: Float64Array;
  /** Requested size in bytes (per element for calloc). */
  readonly sizes: Float64Array;
  /** Largest id used: the peak number of live blocks. */
  readonly maxId: number;
}

/** What a trace is replayed on: a {@link HeapApi} without kzalloc, plus aligned allocation if the trace has any. */
export type TraceTarget = Pick<HeapApi, "kmalloc" | "kfree" | "krealloc" | "kcalloc"> & {
  kmallocAligned?(size: number, alignment: number): VirtAddr;
};

// A Map, not an object literal: `constructor` or `toString` must not parse as an operation.
const CODES: ReadonlyMap<string, TraceOpCode> = new Map([
  ["m", TraceOp.Malloc],
  ["c", TraceOp.Calloc],
  ["r", TraceOp.Realloc],
  ["a", TraceOp.Aligned],
  ["f", TraceOp.Free],
]);
/** Largest block ID a trace may use: IDs are stored as 32-bit integers. */
const MAX_ID = 0x7fff_ffff;

/**
 * Parses a trace's text (already gunzipped).
 * @throws SyntaxError naming the line for a malformed line (an unknown operation, a wrong count of fields, a field
 *   that is not a non-negative integer, a block ID above 2^31 - 1).
 */
export function parseTrace(text: string): HeapTrace {
  const lines = text.split("\n");
  const ops = new Uint8Array(lines.length);
  const ids = new Int32Array(lines.length);
  const args = new Float64Array(lines.length);
  const sizes = new Float64Array(lines.length);
  let length = 0;
  let maxId = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    const op = CODES.get(fields[0]!);
    const numbers = fields.slice(1).map(Number);
    const arity = op === TraceOp.Free ? 1 : op === TraceOp.Malloc ? 2 : 3;
    if (op === undefined || numbers.length !== arity || !numbers.every((n) => Number.isSafeInteger(n) && n >= 0)) {
      throw new SyntaxError(`heap trace line ${i + 1}: cannot parse ${JSON.stringify(line)}`);
    }
    if (numbers[0]! > MAX_ID || (op === TraceOp.Realloc && numbers[1]! > MAX_ID)) {
      throw new SyntaxError(`heap trace line ${i + 1}: a block ID above ${MAX_ID} in ${JSON.stringify(line)}`);
    }
    ops[length] = op;
    ids[length] = numbers[0]!;
    if (op === TraceOp.Malloc) sizes[length] = numbers[1]!;
    else if (op !== TraceOp.Free) {
      args[length] = numbers[1]!;
      sizes[length] = numbers[2]!;
    }
    maxId = Math.max(maxId, numbers[0]!, op === TraceOp.Realloc ? numbers[1]! : 0);
    length++;
  }
  return {
    length,
    ops: ops.subarray(0, length),
    ids: ids.subarray(0, length),
    args: args.subarray(0, length),
    sizes: sizes.subarray(0, length),
    maxId,
  };
}

/** The first `count` calls of a trace. */
export function tracePrefix(trace: HeapTrace, count: number): HeapTrace {
  const length = Math.min(count, trace.length);
  return {
    length,
    ops: trace.ops.subarray(0, length),
    ids: trace.ids.subarray(0, length),
    args: trace.args.subarray(0, length),
    sizes: trace.sizes.subarray(0, length),
    maxId: trace.maxId,
  };
}

/** Peak live bytes and blocks of a trace, from the requested sizes alone (what any allocator must at least hold). */
export function tracePeaks(trace: HeapTrace): { peakLiveBytes: number; peakLiveBlocks: number } {
  const size = new Float64Array(trace.maxId + 1);
  let live = 0;
  let blocks = 0;
  let peakLiveBytes = 0;
  let peakLiveBlocks = 0;
  for (let i = 0; i < trace.length; i++) {
    const op = trace.ops[i]!;
    const id = trace.ids[i]!;
    if (op === TraceOp.Free) {
      if (id !== 0) {
        live -= size[id]!;
        size[id] = 0;
        blocks--;
      }
      continue;
    }
    let bytes = trace.sizes[i]!;
    let target = id;
    if (op === TraceOp.Calloc) bytes *= trace.args[i]!;
    if (op === TraceOp.Realloc) {
      target = trace.args[i]!;
      if (id !== 0) {
        live -= size[id]!;
        size[id] = 0;
        blocks--;
      }
      if (target === 0) continue;
    }
    size[target] = bytes;
    live += bytes;
    blocks++;
    if (live > peakLiveBytes) peakLiveBytes = live;
    if (blocks > peakLiveBlocks) peakLiveBlocks = blocks;
  }
  return { peakLiveBytes, peakLiveBlocks };
}

/** Options of {@link replayTrace}. */
export interface ReplayOptions {
  /**
   * Checks what the heap hands back, through this memory: every pointer is nonzero and 16-byte aligned, each block
   * is filled with a byte derived from its id when allocated, and on krealloc and kfree the contents are read back
   * and compared (so an overlap or a lost copy is caught). Slow; leave out for benchmarks.
   */
  readonly verify?: VirtualMemory;
}

/** What a replay did. */
export interface ReplayResult {
  readonly operations: number;
  /** Allocations that returned 0 (a trace records none, so any is a failure of the heap under test). */
  readonly failures: number;
}

/**
 * Replays a trace on `target`, keeping each id's pointer. With `verify`, throws an Error naming the call and the id
 * when a pointer is misaligned or a block's contents changed behind its back.
 */
export function replayTrace(target: TraceTarget, trace: HeapTrace, options: ReplayOptions = {}): ReplayResult {
  const pointers = new Float64Array(trace.maxId + 1);
  const verify = options.verify;
  const sizes = verify ? new Float64Array(trace.maxId + 1) : undefined;
  const checker = verify ? new ContentChecker(verify) : undefined;
  const { ops, ids, args } = trace;
  let failures = 0;
  for (let i = 0; i < trace.length; i++) {
    const id = ids[i]!;
    switch (ops[i]) {
      case TraceOp.Malloc:
      case TraceOp.Calloc:
      case TraceOp.Aligned: {
        const size = ops[i] === TraceOp.Calloc ? args[i]! * trace.sizes[i]! : trace.sizes[i]!;
        const pointer =
          ops[i] === TraceOp.Malloc
            ? target.kmalloc(size)
            : ops[i] === TraceOp.Calloc
              ? target.kcalloc(args[i]!, trace.sizes[i]!)
              : aligned(target, size, args[i]!);
        pointers[id] = pointer;
        if (pointer === 0) failures++;
        if (checker && sizes && pointer !== 0) {
          checker.checkPointer(pointer, i, id, ops[i] === TraceOp.Aligned ? args[i]! : 16);
          if (ops[i] === TraceOp.Calloc) checker.expect(pointer, size, 0, i, id, "kcalloc did not zero");
          checker.stamp(pointer, size, id);
          sizes[id] = size;
        }
        break;
      }
      case TraceOp.Realloc: {
        const next = args[i]!;
        const size = trace.sizes[i]!;
        const old = id === 0 ? 0 : pointers[id]!;
        if (checker && sizes && old !== 0) checker.expect(old, sizes[id]!, stampOf(id), i, id, "contents changed");
        const pointer = target.krealloc(old, next === 0 ? 0 : size);
        if (id !== 0) pointers[id] = 0;
        if (next === 0) break;
        pointers[next] = pointer;
        if (pointer === 0) {
          failures++;
          break;
        }
        if (checker && sizes) {
          checker.checkPointer(pointer, i, next, 16);
          const kept = old === 0 ? 0 : Math.min(sizes[id]!, size);
          checker.expect(pointer, kept, stampOf(id), i, next, "krealloc lost the contents");
          checker.stamp(pointer, size, next);
          sizes[next] = size;
        }
        break;
      }
      case TraceOp.Free: {
        const pointer = pointers[id]!;
        if (checker && sizes && pointer !== 0)
          checker.expect(pointer, sizes[id]!, stampOf(id), i, id, "contents changed");
        target.kfree(pointer);
        pointers[id] = 0;
        break;
      }
    }
  }
  return { operations: trace.length, failures };
}

function aligned(target: TraceTarget, size: number, alignment: number): VirtAddr {
  if (!target.kmallocAligned)
    throw new Error("the trace has an aligned allocation and the target has no kmallocAligned");
  return target.kmallocAligned(size, Math.max(16, alignment));
}

function stampOf(id: number): number {
  return (id * 131 + 7) & 0xff;
}

/** Fills blocks with their id's byte and reads them back, through one reused buffer. */
class ContentChecker {
  private buffer = new Uint8Array(4096);

  constructor(private readonly memory: VirtualMemory) {}

  checkPointer(pointer: VirtAddr, call: number, id: number, alignment: number): void {
    if (pointer % alignment !== 0) {
      throw new Error(
        `trace call ${call + 1}: block ${id} at 0x${pointer.toString(16)} is not ${alignment}-byte aligned`,
      );
    }
  }

  stamp(pointer: VirtAddr, size: number, id: number): void {
    if (size > 0) this.memory.fill(pointer, size, stampOf(id));
  }

  expect(pointer: VirtAddr, size: number, byte: number, call: number, id: number, what: string): void {
    if (this.buffer.length < size) this.buffer = new Uint8Array(Math.max(size, this.buffer.length * 2));
    const view = this.buffer.subarray(0, size);
    this.memory.read(pointer, view);
    const bad = view.findIndex((value) => value !== byte);
    if (bad >= 0) {
      throw new Error(
        `trace call ${call + 1}: block ${id} at 0x${pointer.toString(16)}: ${what} ` +
          `(byte +${bad} is 0x${view[bad]!.toString(16)}, expected 0x${byte.toString(16)})`,
      );
    }
  }
}
