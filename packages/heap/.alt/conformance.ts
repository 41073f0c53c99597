import { type HeapApi, InvalidArgumentError, KernelPanic, type VirtAddr, type VirtualMemory } from "@ksim/core";
import { describe, expect, it } from "vitest";

/** What the conformance suite needs: a fresh heap and the kernel virtual memory its pointers are valid in. */
export interface HeapUnderTest {
  readonly heap: HeapApi;
  readonly memory: VirtualMemory;
}

/** A small seeded generator (an LCG), so a failing sequence can be replayed from its seed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state / 2 ** 32;
  };
}

function holds(memory: VirtualMemory, pointer: VirtAddr, length: number, byte: number): boolean {
  const bytes = new Uint8Array(length);
  memory.read(pointer, bytes);
  return bytes.every((value) => value === byte);
}

function panicOf(call: () => unknown): KernelPanic | undefined {
  try {
    call();
  } catch (error) {
    if (error instanceof KernelPanic) return error;
    throw error;
  }
  return undefined;
}

/**
 * The shared contract of ksim heaps (`HeapApi` from `@ksim/core`): the seed's "exactly the same as malloc, free,
 * etc." made into vitest tests. Call it from a test file with a factory that builds a fresh heap:
 *
 * ```ts
 * describeHeapConformance("my heap", () => ({ heap, memory }));
 * ```
 */
export function describeHeapConformance(name: string, create: () => HeapUnderTest): void {
  describe(`${name} conforms to HeapApi`, () => {
    it("kmalloc returns distinct 16-byte aligned pointers to writable memory that keeps its contents", () => {
      const { heap, memory } = create();
      const blocks = [1, 16, 17, 100, 4096, 10_000].map((size, i) => ({ size, byte: i + 1, p: heap.kmalloc(size) }));
      for (const { p, size, byte } of blocks) {
        expect(p).not.toBe(0);
        expect(p % 16).toBe(0);
        memory.fill(p, size, byte);
      }
      for (const { p, size, byte } of blocks) expect(holds(memory, p, size, byte)).toBe(true);
    });

    it("kfree(0) does nothing and kmalloc(0) gives a pointer kfree accepts", () => {
      const { heap } = create();
      heap.kfree(0);
      const p = heap.kmalloc(0);
      expect(p).not.toBe(0);
      heap.kfree(p);
    });

    it("krealloc(0, n) allocates, krealloc(p, 0) frees and returns 0, and krealloc keeps the contents", () => {
      const { heap, memory } = create();
      const p = heap.krealloc(0, 64);
      expect(p).not.toBe(0);
      memory.fill(p, 64, 0x5c);
      const grown = heap.krealloc(p, 5000);
      expect(holds(memory, grown, 64, 0x5c)).toBe(true);
      const shrunk = heap.krealloc(grown, 10);
      expect(holds(memory, shrunk, 10, 0x5c)).toBe(true);
      expect(heap.krealloc(shrunk, 0)).toBe(0);
      expect(panicOf(() => heap.kfree(shrunk))?.stopName).toBe("MEMORY_MANAGEMENT_ERROR");
    });

    it("kcalloc and kzalloc zero memory that held data; kcalloc returns 0 when count * size overflows", () => {
      const { heap, memory } = create();
      const dirty = heap.kmalloc(2048);
      memory.fill(dirty, 2048, 0xee);
      heap.kfree(dirty);
      const a = heap.kcalloc(32, 64);
      expect(holds(memory, a, 2048, 0)).toBe(true);
      const b = heap.kzalloc(2048);
      expect(holds(memory, b, 2048, 0)).toBe(true);
      expect(heap.kcalloc(2 ** 40, 2 ** 40)).toBe(0);
    });

    it("kmalloc returns 0 for a request no heap can meet", () => {
      const { heap } = create();
      expect(heap.kmalloc(2 ** 52)).toBe(0);
    });

    it("a double free, an interior pointer and a stranger's pointer panic MEMORY_MANAGEMENT_ERROR", () => {
      const { heap } = create();
      const p = heap.kmalloc(100);
      const q = heap.kmalloc(100);
      heap.kfree(p);
      expect(panicOf(() => heap.kfree(p))?.message).toMatch(/Multiple free detected/);
      expect(panicOf(() => heap.kfree(q + 16))?.message).toMatch(/Invalid free detected/);
      expect(panicOf(() => heap.krealloc(q + 16, 8))?.message).toMatch(/Invalid free detected/);
      expect(panicOf(() => heap.kfree(0x1000))?.message).toMatch(/Invalid free detected/);
      heap.kfree(q);
    });

    it("sizes and pointers that are not non-negative integers throw InvalidArgumentError", () => {
      const { heap } = create();
      for (const bad of [Number.NaN, -1, 2.5]) {
        expect(() => heap.kmalloc(bad)).toThrow(InvalidArgumentError);
        expect(() => heap.kcalloc(bad, 1)).toThrow(InvalidArgumentError);
        expect(() => heap.kfree(bad)).toThrow(InvalidArgumentError);
        expect(() => heap.krealloc(0, bad)).toThrow(InvalidArgumentError);
      }
    });

    it("random sequences of all four calls never hand out overlapping memory and keep every block's contents", () => {
      for (const seed of [1, 2, 3]) {
        const { heap, memory } = create();
        const random = seeded(seed);
        const live = new Map<VirtAddr, { size: number; byte: number }>();
        for (let step = 0; step < 400; step++) {
          const roll = random();
          const size = Math.floor(random() * (random() < 0.9 ? 512 : 20_000));
          const keys = [...live.keys()];
          const victim = keys.length > 0 ? keys[Math.floor(random() * keys.length)]! : 0;
          let p = 0;
          if (roll < 0.45 || victim === 0) p = roll < 0.1 ? heap.kcalloc(1, size) : heap.kmalloc(size);
          else if (roll < 0.75) {
            const old = live.get(victim)!;
            expect(holds(memory, victim, old.size, old.byte)).toBe(true);
            heap.kfree(victim);
            live.delete(victim);
            continue;
          } else {
            const old = live.get(victim)!;
            p = heap.krealloc(victim, size);
            live.delete(victim);
            if (size === 0) continue;
            expect(holds(memory, p, Math.min(size, old.size), old.byte)).toBe(true);
          }
          expect(p % 16).toBe(0);
          for (const [q, block] of live) {
            expect(p + Math.max(size, 1) <= q || q + Math.max(block.size, 1) <= p).toBe(true);
          }
          const byte = (step % 250) + 1;
          memory.fill(p, size, byte);
          live.set(p, { size, byte });
        }
        for (const [p, block] of live) {
          expect(holds(memory, p, block.size, block.byte)).toBe(true);
          heap.kfree(p);
        }
      }
    });
  });
}
