import { replayTrace, tracePeaks } from "../src/trace.js";
import { readTraceFile, TRACE_DIRECTORY } from "../src/trace-file.js";
import { makeSubject, type SubjectName } from "./allocators.js";
import { ChurnSession } from "./churn.js";

/**
 * What the parent asks a worker process to do: keep a churn session and run slices of it on request, or replay a
 * trace. One process per subject: no two allocators share JIT feedback.
 */
export type Task = {
  readonly subject: SubjectName;
  readonly wasm: Readonly<Record<"optimised" | "defaults", string>>;
} & ({ readonly kind: "churn" } | { readonly kind: "trace"; readonly file: string; readonly repeats: number });

/** In churn mode the worker stays up and runs a slice of the churn for each such message. */
export interface SliceRequest {
  readonly ms: number;
}

/** What a worker reports. */
export type TaskResult =
  | { readonly kind: "churn"; readonly calls: number; readonly elapsedMs: number }
  | {
      readonly kind: "trace";
      /** Calls per second of each repeat after the first (a warm-up). */
      readonly callsPerSecond: number[];
      readonly peakLiveBytes: number;
      readonly peakFootprint: number | null;
      readonly failures: number;
    };

async function churn(task: Task): Promise<void> {
  const subject = await makeSubject(task.subject, task.wasm);
  const session = new ChurnSession(subject.churn);
  process.on("message", (request: SliceRequest | "exit") => {
    if (request === "exit") {
      session.dispose();
      process.exit(0);
    }
    const slice = session.run(request.ms);
    process.send?.({ kind: "churn", ...slice } satisfies TaskResult);
  });
  process.send?.("ready");
}

async function replay(task: Task & { kind: "trace" }): Promise<TaskResult> {
  const trace = readTraceFile(`${TRACE_DIRECTORY}${task.file}`);
  const rates: number[] = [];
  let peakFootprint: number | null = null;
  let failures = 0;
  for (let i = 0; i <= task.repeats; i++) {
    const subject = await makeSubject(task.subject, task.wasm);
    if (!subject.trace) throw new Error(`${task.subject} cannot replay traces`);
    const start = performance.now();
    const result = replayTrace(subject.trace, trace);
    const elapsed = performance.now() - start;
    failures += result.failures;
    if (i > 0) rates.push((trace.length * 1000) / elapsed);
    peakFootprint = subject.peakFootprint ? subject.peakFootprint() : null;
  }
  return {
    kind: "trace",
    callsPerSecond: rates,
    peakLiveBytes: tracePeaks(trace).peakLiveBytes,
    peakFootprint,
    failures,
  };
}

const task = JSON.parse(process.argv[2]!) as Task;
if (task.kind === "churn") await churn(task);
else {
  const result = await replay(task);
  process.send?.(result, () => process.exit(0));
}
