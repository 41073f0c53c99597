import { replayTrace, tracePeaks } from "../src/trace.js";
import { readTraceFile, TRACE_DIRECTORY } from "../src/trace-file.js";
import { makeSubject, type SubjectName } from "./allocators.js";
import { runChurn } from "./churn.js";

/** What the parent asks one worker process to measure. A fresh process per task: no subject shares JIT state. */
export type Task = {
  readonly subject: SubjectName;
  readonly wasm: Readonly<Record<"optimised" | "defaults", string>>;
} & (
  | { readonly kind: "churn"; readonly budgetMs: number }
  | { readonly kind: "trace"; readonly file: string; readonly repeats: number }
);

/** What a worker reports. */
export type TaskResult =
  | { readonly kind: "churn"; readonly callsPerSecond: number }
  | {
      readonly kind: "trace";
      /** Calls per second of each repeat after the first (a warm-up). */
      readonly callsPerSecond: number[];
      readonly peakLiveBytes: number;
      readonly peakFootprint: number | null;
      readonly failures: number;
    };

async function run(task: Task): Promise<TaskResult> {
  if (task.kind === "churn") {
    const subject = await makeSubject(task.subject, task.wasm);
    return { kind: "churn", callsPerSecond: runChurn(subject.churn, { budgetMs: task.budgetMs }).callsPerSecond };
  }
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

const result = await run(JSON.parse(process.argv[2]!) as Task);
process.send?.(result, () => process.exit(0));
