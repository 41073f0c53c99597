import { describe, expect, test } from "vitest";
import { realHeap } from "./testing/real-stack.js";
import { parseTrace, replayTrace, TraceOp, type TraceTarget, tracePeaks, tracePrefix } from "./trace.js";
import { readTraceFile, TRACE_DIRECTORY, TRACE_FILES } from "./trace-file.js";

describe("parseTrace", () => {
  test("reads every call kind, skips comments and blank lines", () => {
    const trace = parseTrace(
      "# heaptrace v1\nm 1 48\nc 2 13 16\n\nr 1 3 100\na 4 4096 10\nf 2\nf 0\nr 0 5 7\nr 3 0 0\n",
    );
    expect(trace.length).toBe(8);
    expect([...trace.ops]).toEqual([
      TraceOp.Malloc,
      TraceOp.Calloc,
      TraceOp.Realloc,
      TraceOp.Aligned,
      TraceOp.Free,
      TraceOp.Free,
      TraceOp.Realloc,
      TraceOp.Realloc,
    ]);
    expect([...trace.ids]).toEqual([1, 2, 1, 4, 2, 0, 0, 3]);
    expect([...trace.args]).toEqual([0, 13, 3, 4096, 0, 0, 5, 0]);
    expect([...trace.sizes]).toEqual([48, 16, 100, 10, 0, 0, 7, 0]);
    expect(trace.maxId).toBe(5);
  });

  test.each([
    "x 1 2",
    "m 1",
    "m 1 2 3",
    "f",
    "m -1 4",
    "c 1 2 1.5",
    "m one 4",
    "constructor 1 2 3",
    "toString 7 8",
    "m 4294967297 16",
    "r 1 2147483648 8",
  ])("refuses the line %j, naming it", (line) => {
    expect(() => parseTrace(`m 1 1\n${line}\n`)).toThrow(/heap trace line 2/);
  });

  test("tracePeaks follows reallocs and frees, and a prefix is a prefix", () => {
    const trace = parseTrace("m 1 100\nc 2 10 10\nr 1 3 300\nf 2\nm 2 50\nr 3 0 0\n");
    expect(tracePeaks(trace)).toEqual({ peakLiveBytes: 400, peakLiveBlocks: 2 });
    expect(tracePeaks(tracePrefix(trace, 2))).toEqual({ peakLiveBytes: 200, peakLiveBlocks: 2 });
  });
});

describe("replayTrace", () => {
  test("calls the target with the trace's sizes and threads each id's pointer through", () => {
    const calls: string[] = [];
    let next = 0x1000;
    const fresh = () => {
      next += 0x100;
      return next;
    };
    const target: TraceTarget = {
      kmalloc: (size) => {
        calls.push(`kmalloc(${size})`);
        return fresh();
      },
      kcalloc: (count, size) => {
        calls.push(`kcalloc(${count}, ${size})`);
        return fresh();
      },
      krealloc: (pointer, size) => {
        calls.push(`krealloc(0x${pointer.toString(16)}, ${size})`);
        return size === 0 ? 0 : fresh();
      },
      kfree: (pointer) => {
        calls.push(`kfree(0x${pointer.toString(16)})`);
      },
    };
    const result = replayTrace(target, parseTrace("m 1 8\nc 2 3 4\nr 1 1 20\nf 2\nr 1 0 0\nf 0\n"));
    expect(result).toEqual({ operations: 6, failures: 0 });
    expect(calls).toEqual([
      "kmalloc(8)",
      "kcalloc(3, 4)",
      "krealloc(0x1100, 20)",
      "kfree(0x1200)",
      "krealloc(0x1300, 0)",
      "kfree(0x0)",
    ]);
  });

  test("with verify, a heap that hands out overlapping blocks is caught", () => {
    const { arch, heap } = realHeap();
    const base = heap.kmalloc(4096);
    // A broken allocator: every block at the same address.
    const broken: TraceTarget = {
      kmalloc: () => base,
      kcalloc: () => base,
      krealloc: () => base,
      kfree: () => {},
    };
    expect(() => replayTrace(broken, parseTrace("m 1 64\nm 2 64\nf 1\n"), { verify: arch.memory })).toThrow(
      /trace call 3: block 1 .* contents changed/,
    );
  });

  test("an aligned call needs kmallocAligned", () => {
    const { heap, arch } = realHeap();
    const trace = parseTrace("a 1 4096 100\nf 1\n");
    expect(replayTrace(heap, trace, { verify: arch.memory })).toEqual({ operations: 2, failures: 0 });
    const { kmallocAligned: _, ...withoutAligned } = {
      kmalloc: (n: number) => heap.kmalloc(n),
      kfree: (p: number) => heap.kfree(p),
      krealloc: (p: number, n: number) => heap.krealloc(p, n),
      kcalloc: (c: number, n: number) => heap.kcalloc(c, n),
      kmallocAligned: undefined,
    };
    expect(() => replayTrace(withoutAligned, trace)).toThrow(/no kmallocAligned/);
  });
});

describe.each(TRACE_FILES)("the recorded program %s, replayed on the real stack", (file) => {
  const trace = readTraceFile(`${TRACE_DIRECTORY}${file}`);
  const peaks = tracePeaks(trace);

  test("every pointer is valid and aligned, every block keeps its contents, and the heap checks clean", () => {
    const { heap, arch } = realHeap({ ramSize: 64 * 1024 * 1024 });
    const result = replayTrace(heap, trace, { verify: arch.memory });
    expect(result).toEqual({ operations: trace.length, failures: 0 });
    const stats = heap.stats();
    expect(stats.peakLiveBytes).toBe(peaks.peakLiveBytes);
    // The footprint target: peak mapped bytes within 1.3x of peak live bytes.
    expect(stats.peakMappedBytes / peaks.peakLiveBytes).toBeLessThanOrEqual(1.3);
    expect(heap.heapCheck().problems).toEqual([]);
  });

  test("the first 30,000 calls replay clean in debug mode (red zones and poison intact)", () => {
    const { heap, arch } = realHeap({ ramSize: 64 * 1024 * 1024, debug: true });
    replayTrace(heap, tracePrefix(trace, 30_000), { verify: arch.memory });
    expect(heap.heapCheck().problems).toEqual([]);
  });
});
