// pnpm bench: the heap side by side with its peers, in one run. Each allocator lives in its own child process (its
// own JIT feedback); the churn runs in short slices taken in turn, round after round, so that the machine's load
// hits every allocator alike, and ratios are computed per round.
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TRACE_FILES } from "../src/trace-file.js";
import { SUBJECTS, type SubjectName } from "./allocators.js";
import { AS_FLAGS, compileAsTlsf } from "./as-tlsf.js";
import { churnTraffic } from "./traffic.js";
import type { SliceRequest, Task, TaskResult } from "./worker.js";

const quick = process.env.KSIM_BENCH_QUICK === "1";
const ROUNDS = quick ? 3 : 12;
const SLICE_MS = quick ? 200 : 300;
const TRACE_REPEATS = quick ? 2 : 5;

const CHURN_SUBJECTS: SubjectName[] = ["ksim-real", "ksim-flat", "as-tlsf-O3", "as-tlsf", "malloc", "thi.ng"];
const TRACE_SUBJECTS: SubjectName[] = ["ksim-real", "ksim-flat", "as-tlsf-O3", "malloc"];

// AssemblyScript's TLSF, compiled once at bench start in a temporary directory (removed at the end).
const wasmDir = mkdtempSync(join(tmpdir(), "ksim-heap-bench-"));
const wasm = {
  optimised: await compileAsTlsf(wasmDir, "optimised"),
  defaults: await compileAsTlsf(wasmDir, "defaults"),
};

const WORKER_PATH = fileURLToPath(new URL("./worker.ts", import.meta.url));

/** Runs a one-shot task (a trace replay) in a fresh child process. */
function inWorker(task: DistributiveOmit<Task, "wasm">): Promise<TaskResult> {
  return new Promise((resolve, reject) => {
    const child = fork(WORKER_PATH, [JSON.stringify({ ...task, wasm })], { execArgv: process.execArgv });
    child.once("message", (message) => resolve(message as TaskResult));
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) reject(new Error(`bench worker for ${task.subject} exited with code ${code}`));
    });
  });
}

/** A churn worker that stays up: it fills its live blocks once, then runs a slice per request. */
class ChurnWorker {
  private readonly child: ChildProcess;
  private pending: ((result: TaskResult) => void) | undefined;
  readonly ready: Promise<void>;

  constructor(readonly subject: SubjectName) {
    this.child = fork(WORKER_PATH, [JSON.stringify({ kind: "churn", subject, wasm })], { execArgv: process.execArgv });
    this.ready = new Promise((resolve, reject) => {
      this.child.on("message", (message) => {
        if (message === "ready") resolve();
        else this.pending?.(message as TaskResult);
      });
      this.child.once("exit", (code) => {
        if (code !== 0) reject(new Error(`churn worker for ${subject} exited with code ${code}`));
      });
    });
  }

  /** Calls per second over one slice of `ms`. */
  slice(ms: number): Promise<number> {
    return new Promise((resolve) => {
      this.pending = (result) => {
        if (result.kind === "churn") resolve((result.calls * 1000) / result.elapsedMs);
      };
      this.child.send({ ms } satisfies SliceRequest);
    });
  }

  close(): void {
    this.child.send("exit");
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function mops(value: number): string {
  return value >= 1e5 ? `${(value / 1e6).toFixed(2)} M` : `${(value / 1e3).toFixed(1)} k`;
}

async function churn(): Promise<void> {
  console.log(
    `\n## churn: 10,000 live blocks of 16..4096 B, free + malloc (each call counts); ${ROUNDS} rounds of ` +
      `${SLICE_MS} ms slices taken in turn, after a warm-up round\n`,
  );
  const workers = CHURN_SUBJECTS.map((subject) => new ChurnWorker(subject));
  await Promise.all(workers.map((worker) => worker.ready));
  const rates = new Map<SubjectName, number[]>(CHURN_SUBJECTS.map((s) => [s, []]));
  for (let round = -1; round < ROUNDS; round++) {
    for (const worker of workers) {
      const rate = await worker.slice(SLICE_MS);
      if (round >= 0) rates.get(worker.subject)!.push(rate);
    }
  }
  for (const worker of workers) worker.close();
  const ours = rates.get("ksim-real")!;
  console.log("| allocator | calls/s (median) | ksim-real / it, median of per-round ratios (range) |");
  console.log("|---|---:|---:|");
  for (const subject of CHURN_SUBJECTS) {
    const theirs = rates.get(subject)!;
    const ratios = theirs.map((rate, round) => ours[round]! / rate);
    const range = `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
    console.log(`| ${SUBJECTS[subject]} | ${mops(median(theirs))} | ${median(ratios).toFixed(2)}x (${range}) |`);
  }
}

async function traces(): Promise<void> {
  console.log(`\n## real traces: full replay, median of ${TRACE_REPEATS} after a warm-up\n`);
  console.log("| trace | allocator | calls/s | peak footprint | peak live | footprint / live |");
  console.log("|---|---|---:|---:|---:|---:|");
  for (const file of TRACE_FILES) {
    for (const subject of TRACE_SUBJECTS) {
      const result = await inWorker({ kind: "trace", subject, file, repeats: TRACE_REPEATS });
      if (result.kind !== "trace") continue;
      if (result.failures > 0) throw new Error(`${subject} failed ${result.failures} allocations on ${file}`);
      const footprint = result.peakFootprint;
      const ratio = footprint === null ? "n/a (fixed buffer)" : `${(footprint / result.peakLiveBytes).toFixed(3)}`;
      console.log(
        `| ${file.replace(".trace.gz", "")} | ${SUBJECTS[subject]} | ${mops(median(result.callsPerSecond))} | ` +
          `${footprint === null ? "-" : (footprint / 2 ** 20).toFixed(2)} MiB | ${(result.peakLiveBytes / 2 ** 20).toFixed(2)} MiB | ${ratio} |`,
      );
    }
  }
}

console.log(`# @ksim/heap benchmarks (${new Date().toISOString()}, Node ${process.version}${quick ? ", quick" : ""})`);
await churn();
const traffic = churnTraffic();
console.log(
  `\n@ksim/heap's simulated-memory traffic on the churn: ${traffic.reads.toFixed(2)} read32 + ` +
    `${traffic.writes.toFixed(2)} write32 + ${traffic.views.toFixed(2)} pageView per call`,
);
await traces();
console.log(`\nAssemblyScript builds: asc ${AS_FLAGS.optimised.join(" ")} / asc ${AS_FLAGS.defaults.join(" ")}`);
rmSync(wasmDir, { recursive: true, force: true });
