import { X86_64 } from "@ksim/arch-x86_64";
import { Machine } from "@ksim/machine";
import { BuddyAllocator } from "@ksim/pmm";
import { MemPool } from "@thi.ng/malloc";
import Allocator from "malloc";
import { Heap } from "../src/heap.js";
import { FakeFrames } from "../src/testing/fake-frames.js";
import type { TraceTarget } from "../src/trace.js";
import { loadAsTlsf } from "./as-tlsf.js";
import type { ChurnTarget } from "./churn.js";
import { FlatMemory } from "./flat-memory.js";

/** An allocator under test, able to run the churn and (optionally) the trace replays. */
export interface Subject {
  readonly churn: ChurnTarget;
  readonly trace?: TraceTarget;
  /** Bytes of memory the allocator holds from its host now (mapped heap, wasm memory), if it can tell. */
  footprint?(): number;
  /** Peak of {@link footprint} so far. */
  peakFootprint?(): number;
}

/** Names of the subjects, in the order of the report. */
export const SUBJECTS = {
  "ksim-real": "@ksim/heap on the real stack (machine RAM, buddy, x86-64 MMU)",
  "ksim-flat": "@ksim/heap over a flat typed array (no MMU)",
  "as-tlsf-O3": "AssemblyScript runtime TLSF, wasm (asc -O3 --noAssert)",
  "as-tlsf": "AssemblyScript runtime TLSF, wasm (asc defaults)",
  malloc: "malloc 1.1 (npm, skip list, JS)",
  "thi.ng": "@thi.ng/malloc 6.1 (first fit, TS)",
} as const;
export type SubjectName = keyof typeof SUBJECTS;

const RAM = 256 * 1024 * 1024;

/** Builds a fresh subject. `wasm` holds the paths of the AssemblyScript builds (compiled once at bench start). */
export async function makeSubject(
  name: SubjectName,
  wasm: Readonly<Record<"optimised" | "defaults", string>>,
): Promise<Subject> {
  switch (name) {
    case "ksim-real": {
      const machine = new Machine({ ramSize: RAM });
      const frames = new BuddyAllocator(machine.firmwareMemoryMap);
      const arch = new X86_64({ memory: machine.memory, frames });
      return heapSubject(new Heap({ memory: arch.memory, frames, window: arch.layout.heap }));
    }
    case "ksim-flat": {
      const base = 0xff00_0000_0000;
      const heap = new Heap({
        memory: new FlatMemory(base, RAM),
        frames: new FakeFrames(RAM / 4096),
        window: { name: "heap", base, size: RAM },
      });
      return heapSubject(heap);
    }
    case "as-tlsf-O3":
    case "as-tlsf": {
      const tlsf = await loadAsTlsf(name === "as-tlsf-O3" ? wasm.optimised : wasm.defaults);
      let peak = 0;
      const footprint = () => {
        peak = Math.max(peak, tlsf.memoryBytes());
        return tlsf.memoryBytes();
      };
      return {
        churn: { malloc: tlsf.alloc, free: tlsf.free },
        trace: {
          kmalloc: tlsf.alloc,
          kfree: (p) => {
            if (p !== 0) tlsf.free(p);
          },
          krealloc: (p, n) => {
            if (n === 0) {
              if (p !== 0) tlsf.free(p);
              return 0;
            }
            return p === 0 ? tlsf.alloc(n) : tlsf.realloc(p, n);
          },
          kcalloc: (count, size) => {
            const p = tlsf.alloc(count * size);
            tlsf.zero(p, count * size);
            return p;
          },
        },
        footprint,
        peakFootprint: () => Math.max(peak, footprint()),
      };
    }
    case "malloc": {
      const bytes = new Uint8Array(RAM);
      const allocator = new Allocator(bytes.buffer);
      return {
        churn: { malloc: (n) => allocator.alloc(n), free: (p) => allocator.free(p) },
        trace: {
          kmalloc: (n) => allocator.alloc(n),
          kfree: (p) => {
            if (p !== 0) allocator.free(p);
          },
          krealloc: (p, n) => {
            if (n === 0) {
              if (p !== 0) allocator.free(p);
              return 0;
            }
            const q = allocator.alloc(n);
            if (p !== 0) {
              bytes.copyWithin(q, p, p + Math.min(n, allocator.sizeOf(p)));
              allocator.free(p);
            }
            return q;
          },
          kcalloc: (count, size) => {
            const p = allocator.alloc(count * size);
            bytes.fill(0, p, p + count * size);
            return p;
          },
        },
      };
    }
    case "thi.ng": {
      const pool = new MemPool({ size: RAM });
      return { churn: { malloc: (n) => pool.malloc(n), free: (p) => void pool.free(p) } };
    }
  }
}

function heapSubject(heap: Heap): Subject {
  return {
    churn: { malloc: (n) => heap.kmalloc(n), free: (p) => heap.kfree(p) },
    trace: heap,
    footprint: () => heap.stats().mappedBytes,
    peakFootprint: () => heap.stats().peakMappedBytes,
  };
}
