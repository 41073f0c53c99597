/** What the churn benchmark drives: a malloc and a free. Pointers are numbers; 0 is failure. */
export interface ChurnTarget {
  malloc(size: number): number;
  free(pointer: number): void;
}

/** Parameters of {@link runChurn}. */
export interface ChurnOptions {
  /** Blocks kept live. Default 10,000. */
  readonly liveBlocks?: number;
  readonly minSize?: number;
  readonly maxSize?: number;
  /** Time spent measuring, after a warm-up of a quarter of it. Default 1,500 ms. */
  readonly budgetMs?: number;
  readonly seed?: number;
}

/** Result of a churn run. */
export interface ChurnResult {
  /** Calls (each kfree and each kmalloc counts as one) per second. */
  readonly callsPerSecond: number;
  readonly calls: number;
  readonly elapsedMs: number;
}

const SCRIPT_LENGTH = 1 << 16;

/**
 * Fills `liveBlocks` blocks of random sizes, then repeatedly frees a random live block and allocates a new one of a
 * random size in its place, for `budgetMs`. Sizes and victims come from a pre-generated script (a seeded LCG), so
 * every allocator sees the same sequence and the random numbers cost nothing in the timed loop.
 */
export function runChurn(target: ChurnTarget, options: ChurnOptions = {}): ChurnResult {
  const { liveBlocks = 10_000, minSize = 16, maxSize = 4096, budgetMs = 1500, seed = 0x2545f491 } = options;
  let state = seed >>> 0;
  const random = () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state / 2 ** 32;
  };
  const span = maxSize - minSize + 1;
  const sizes = new Int32Array(SCRIPT_LENGTH);
  const victims = new Int32Array(SCRIPT_LENGTH);
  for (let i = 0; i < SCRIPT_LENGTH; i++) {
    sizes[i] = minSize + Math.floor(random() * span);
    victims[i] = Math.floor(random() * liveBlocks);
  }
  const live = new Float64Array(liveBlocks);
  for (let i = 0; i < liveBlocks; i++) live[i] = mustAllocate(target, sizes[i % SCRIPT_LENGTH]!);
  let cursor = 0;
  const batch = (count: number) => {
    for (let n = 0; n < count; n++) {
      const victim = victims[cursor]!;
      target.free(live[victim]!);
      live[victim] = target.malloc(sizes[cursor]!);
      cursor = (cursor + 1) & (SCRIPT_LENGTH - 1);
    }
  };
  const timed = (ms: number) => {
    let iterations = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ms) {
      batch(1024);
      iterations += 1024;
      now = performance.now();
    }
    return { iterations, elapsed: now - start };
  };
  timed(budgetMs / 4);
  const { iterations, elapsed } = timed(budgetMs);
  for (let i = 0; i < liveBlocks; i++) if (live[i] !== 0) target.free(live[i]!);
  return { callsPerSecond: (2 * iterations * 1000) / elapsed, calls: 2 * iterations, elapsedMs: elapsed };
}

function mustAllocate(target: ChurnTarget, size: number): number {
  const pointer = target.malloc(size);
  if (pointer === 0) throw new Error(`churn: the allocator under test ran out of memory allocating ${size} bytes`);
  return pointer;
}
