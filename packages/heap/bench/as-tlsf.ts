import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import asc from "assemblyscript/asc";

/** AssemblyScript's runtime TLSF (`heap.alloc`/`heap.free`/`heap.realloc`), compiled to wasm and called from JS. */
export interface AsTlsf {
  alloc(size: number): number;
  free(pointer: number): void;
  realloc(pointer: number, size: number): number;
  /** The wasm memory's size in bytes (the TLSF grows it with memory.grow and never shrinks it). */
  memoryBytes(): number;
  /** Zeroes `length` bytes at `pointer` in the wasm memory (for calloc). */
  zero(pointer: number, length: number): void;
}

const SOURCE = `
export function alloc(size: usize): usize { return heap.alloc(size); }
export function free(ptr: usize): void { heap.free(ptr); }
export function realloc(ptr: usize, size: usize): usize { return heap.realloc(ptr, size); }
`;

/** asc flags: optimised, and asc's defaults (no optimisation, assertions on). Both use the minimal runtime's TLSF. */
export const AS_FLAGS = {
  optimised: ["-O3", "--runtime", "minimal", "--noAssert"],
  defaults: ["--runtime", "minimal"],
} as const;

/** Compiles the wrapper module in `dir` with the installed `asc`; returns the path of the .wasm. */
export async function compileAsTlsf(dir: string, variant: keyof typeof AS_FLAGS): Promise<string> {
  const source = join(dir, `tlsf-${variant}.ts`);
  const out = join(dir, `tlsf-${variant}.wasm`);
  writeFileSync(source, SOURCE);
  const result = await asc.main([source, "--outFile", out, ...AS_FLAGS[variant]]);
  if (result.error) throw new Error(`asc failed: ${result.error.message}\n${result.stderr.toString()}`);
  return out;
}

// The project's TypeScript lib has no wasm types; this is the one call used.
const wasm = (
  globalThis as unknown as {
    WebAssembly: { instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: unknown } }> };
  }
).WebAssembly;

/** Instantiates a module built by {@link compileAsTlsf}. */
export async function loadAsTlsf(path: string): Promise<AsTlsf> {
  const { instance } = await wasm.instantiate(readFileSync(path), { env: { abort: asAbort } });
  const exports = instance.exports as {
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
    zero: (pointer, length) => new Uint8Array(exports.memory.buffer, pointer, length).fill(0),
  };
}

function asAbort(): never {
  throw new Error("AssemblyScript runtime abort");
}
