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
 * The churn workload: fills `liveBlocks` blocks of random sizes, then repeatedly frees a random live block and
 * allocates a new one of a random size in its place. Sizes and victims come from a pre-generated script (a seeded
 * LCG), so every allocator sees the same sequence and the random numbers cost nothing in the timed loop. A session
 * can be run in slices, so that several allocators can take turns and share the machine's noise.
 */
export class ChurnSession {
  private readonly sizes = new Int32Array(SCRIPT_LENGTH);
  private readonly victims = new Int32Array(SCRIPT_LENGTH);
  private readonly live: Float64Array;
  private cursor = 0;

  constructor(
    private readonly target: ChurnTarget,
    options: ChurnOptions = {},
  ) {
    const { liveBlocks = 10_000, minSize = 16, maxSize = 4096, seed = 0x2545f491 } = options;
    let state = seed >>> 0;
    const random = () => {
      state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
      return state / 2 ** 32;
    };
    const span = maxSize - minSize + 1;
    for (let i = 0; i < SCRIPT_LENGTH; i++) {
      this.sizes[i] = minSize + Math.floor(random() * span);
      this.victims[i] = Math.floor(random() * liveBlocks);
    }
    this.live = new Float64Array(liveBlocks);
    for (let i = 0; i < liveBlocks; i++) this.live[i] = mustAllocate(target, this.sizes[i % SCRIPT_LENGTH]!);
  }

  /** Runs whole batches of 1,024 free+malloc pairs for about `ms`; returns the calls made and the time taken. */
  run(ms: number): { calls: number; elapsedMs: number } {
    let iterations = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ms) {
      this.batch(1024);
      iterations += 1024;
      now = performance.now();
    }
    return { calls: 2 * iterations, elapsedMs: now - start };
  }

  /** Frees every live block. */
  dispose(): void {
    for (let i = 0; i < this.live.length; i++) if (this.live[i] !== 0) this.target.free(this.live[i]!);
    this.live.fill(0);
  }

  private batch(count: number): void {
    const { target, live, sizes, victims } = this;
    let cursor = this.cursor;
    for (let n = 0; n < count; n++) {
      const victim = victims[cursor]!;
      target.free(live[victim]!);
      live[victim] = target.malloc(sizes[cursor]!);
      cursor = (cursor + 1) & (SCRIPT_LENGTH - 1);
    }
    this.cursor = cursor;
  }
}

/** One churn run: a warm-up of a quarter of `budgetMs`, then `budgetMs` measured. */
export function runChurn(target: ChurnTarget, options: ChurnOptions = {}): ChurnResult {
  const budgetMs = options.budgetMs ?? 1500;
  const session = new ChurnSession(target, options);
  session.run(budgetMs / 4);
  const { calls, elapsedMs } = session.run(budgetMs);
  session.dispose();
  return { callsPerSecond: (calls * 1000) / elapsedMs, calls, elapsedMs };
}

function mustAllocate(target: ChurnTarget, size: number): number {
  const pointer = target.malloc(size);
  if (pointer === 0) throw new Error(`churn: the allocator under test ran out of memory allocating ${size} bytes`);
  return pointer;
}
