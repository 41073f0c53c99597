import { checkInteger, InvalidArgumentError } from "@ksim/core";

/**
 * Where one-buffer RAM ({@link LinearRam}) gets its host memory: zero-filled slices of large host `ArrayBuffer`s
 * ("arenas"), several machines to an arena.
 *
 * Why not one `ArrayBuffer` per machine: V8 counts every ArrayBuffer's length as external memory and answers each
 * 64 MiB of growth with a full garbage collection, so a reservation of up to 3.5 GiB per machine made every
 * `new Machine` collect the whole heap (measured: 180 instead of 24 mark-compacts in this package's test suite,
 * about 0.8 s of pauses). An arena costs that once for many machines.
 *
 * Linux (and other OSes that overcommit) backs such a buffer with the shared zero page until a page is first
 * written, so a reservation costs address space, not memory. Slices are never reused: a dead machine's pages may be
 * dirty and cannot be given back from JavaScript. So that those pages do not pile up, an arena stops handing out
 * slices once the chunks written in it reach a budget; it is freed with the last machine using it.
 */

/** One host buffer and what has been taken from it. */
export interface RamArena {
  readonly buffer: ArrayBuffer;
  /** Bytes handed out so far, from the start (a multiple of 64 KiB). */
  used: number;
  /** 64 KiB chunks of the arena written at least once: a bound on the host memory its pages hold. */
  touchedChunks: number;
}

/** `size` zero bytes of an arena, from `offset` (a multiple of 64 KiB), handed out once. */
export interface RamSlice {
  readonly arena: RamArena;
  readonly offset: number;
  readonly size: number;
}

/** Allocates a host buffer of `bytes` zero bytes; throws RangeError when the host refuses. */
export type HostAllocator = (bytes: number) => ArrayBuffer;

/** 16 GiB: room for five 3 GiB machines or 256 of 64 MiB; hosts refuse 64 GiB (measured on Linux, Node 20). */
export const DEFAULT_ARENA_SIZE = 2 ** 34;
/** An arena takes no new machines once 512 MiB of it have been written. */
export const DEFAULT_ARENA_WRITE_BUDGET = 2 ** 29;

const SLICE_ALIGNMENT = 0x1_0000;

/** Hands out {@link RamSlice}s, opening a new arena when the current one is full or has used its write budget. */
export class RamArenas {
  readonly #allocate: HostAllocator;
  readonly #budgetChunks: number;
  #current: RamArena | null = null;
  /** Largest arena worth asking the host for: halved after each refusal, since a refusal costs V8 full GCs. */
  #ceiling: number;

  /**
   * @param allocate how to get host buffers (tests inject refusals); by default `new ArrayBuffer`.
   * @param arenaSize bytes asked for per arena (less when the host refuses, more when one slice needs more).
   * @param writeBudget bytes written in an arena after which it takes no new slices.
   * @throws InvalidArgumentError if `allocate` is not a function or a size is not an integer in [64 KiB, 2^53).
   */
  constructor(
    allocate: HostAllocator = (bytes) => new ArrayBuffer(bytes),
    arenaSize = DEFAULT_ARENA_SIZE,
    writeBudget = DEFAULT_ARENA_WRITE_BUDGET,
  ) {
    if (typeof allocate !== "function") throw new InvalidArgumentError("allocate", allocate, "must be a function");
    checkInteger("arenaSize", arenaSize, SLICE_ALIGNMENT, Number.MAX_SAFE_INTEGER);
    checkInteger("writeBudget", writeBudget, SLICE_ALIGNMENT, Number.MAX_SAFE_INTEGER);
    this.#allocate = allocate;
    this.#ceiling = arenaSize;
    this.#budgetChunks = Math.ceil(writeBudget / SLICE_ALIGNMENT);
  }

  /**
   * `size` zero bytes that no one else has, or null when the host refuses a buffer that large (the caller then
   * keeps its RAM in chunks). Errors other than the host's `RangeError` propagate.
   * @throws InvalidArgumentError if `size` is not an integer in [1, 4 GiB] (a linear view's offsets are 32-bit).
   */
  take(size: number): RamSlice | null {
    checkInteger("size", size, 1, 2 ** 32);
    const need = Math.ceil(size / SLICE_ALIGNMENT) * SLICE_ALIGNMENT;
    let arena = this.#current;
    if (arena === null || arena.used + need > arena.buffer.byteLength || arena.touchedChunks >= this.#budgetChunks) {
      arena = this.open(need);
      if (arena === null) return null;
      this.#current = arena;
    }
    const offset = arena.used;
    arena.used += need;
    return { arena, offset, size };
  }

  /** A new arena of at least `need` bytes: the ceiling, then halves of it, then exactly `need`. */
  private open(need: number): RamArena | null {
    for (let bytes = Math.max(need, this.#ceiling); ; bytes = Math.max(need, bytes / 2)) {
      try {
        return { buffer: this.#allocate(bytes), used: 0, touchedChunks: 0 };
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        if (bytes === need) return null;
        this.#ceiling = Math.max(SLICE_ALIGNMENT, Math.min(this.#ceiling, bytes / 2));
      }
    }
  }
}

/** The arenas every machine shares unless given others. */
export const sharedRamArenas = new RamArenas();
