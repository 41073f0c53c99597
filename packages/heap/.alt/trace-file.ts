import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { type HeapTrace, parseTrace } from "./trace.js";

/**
 * The recorded traces kept in this package's `traces/` folder (repository only, not published), or the folder
 * named by `KSIM_HEAP_TRACES`.
 */
export const TRACE_DIRECTORY = process.env.KSIM_HEAP_TRACES ?? fileURLToPath(new URL("../traces/", import.meta.url));

/** The two recorded programs. */
export const TRACE_FILES = ["gcc12-cc1-pngtest.trace.gz", "sqlite3-inmem.trace.gz"] as const;

/** Reads and parses a `.trace.gz` (or plain text) trace file. Node only. */
export function readTraceFile(path: string): HeapTrace {
  const raw = readFileSync(path);
  const text = path.endsWith(".gz") ? gunzipSync(raw).toString("utf8") : raw.toString("utf8");
  return parseTrace(text);
}
