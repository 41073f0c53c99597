import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import asc from "assemblyscript/asc";

/** AssemblyScript's runtime TLSF (`heap.alloc`/`heap.free`/`heap.realloc`), compiled to wasm and called from JS. */
export interface AsTlsf {
  alloc(size: number): number;
  free(pointer: number): void;
  realloc(pointer: number, size: number): number;
  /** The wasm memory's size in bytes (the TLSF grows it with memory.grow). */
  memoryBytes(): number;
  /** The compiler flags used. */
  readonly flags: string;
}

const SOURCE = `
export function alloc(size: usize): usize { return heap.alloc(size); }
export function free(ptr: usize): void { heap.free(ptr); }
export function realloc(ptr: usize, size: usize): usize { return heap.realloc(ptr, size); }
`;

// The project's TypeScript lib has no DOM/wasm types; this is the one call used.
const wasm = (
  globalThis as unknown as {
    WebAssembly: { instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: unknown } }> };
  }
).WebAssembly;

const FLAGS = ["-O3", "--runtime", "minimal", "--noAssert"];

/** Compiles the wrapper module in a temporary directory with the installed `asc` and instantiates it. */
export async function compileAsTlsf(): Promise<AsTlsf> {
  const dir = mkdtempSync(join(tmpdir(), "ksim-as-tlsf-"));
  try {
    writeFileSync(join(dir, "tlsf.ts"), SOURCE);
    const out = join(dir, "tlsf.wasm");
    const result = await asc.main([join(dir, "tlsf.ts"), "--outFile", out, ...FLAGS]);
    if (result.error) throw new Error(`asc failed: ${result.error.message}\n${result.stderr.toString()}`);
    const { instance } = await wasm.instantiate(readFileSync(out), { env: { abort: asAbort } });
    const exports = instance.exports as unknown as {
      alloc(size: number): number;
      free(pointer: number): void;
      realloc(pointer: number, size: number): number;
      memory: { buffer: ArrayBuffer };
    };
    return {
      alloc: exports.alloc,
      free: exports.free,
      realloc: exports.realloc,
      memoryBytes: () => exports.memory.buffer.byteLength,
      flags: FLAGS.join(" "),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function asAbort(): never {
  throw new Error("AssemblyScript runtime abort");
}
