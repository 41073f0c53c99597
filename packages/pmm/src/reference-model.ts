import { type FirmwareMemoryMap, type FrameAllocator, FrameError, MemoryRegionType, PAGE_SIZE } from "@ksim/core";

/**
 * The obvious model of a frame allocator, one JavaScript Set/Map entry per frame, used to check a real allocator
 * step by step: which frames are usable, allocated (with reference counts and run membership) or reserved.
 * It is slow and simple on purpose.
 */
export class ReferenceModel {
  /** Every usable frame number, computed directly from the map, frame by frame. */
  readonly usable: ReadonlySet<number>;
  /** Allocated frame -> reference count. */
  readonly refs = new Map<number, number>();
  /** Allocated frame -> the id of the run it belongs to. */
  readonly runOf = new Map<number, number>();
  readonly reserved = new Set<number>();
  /** Ranges reserved through the model, as [first frame, count]. */
  readonly reservations: [number, number][] = [];
  private nextRun = 1;

  constructor(map: FirmwareMemoryMap) {
    this.usable = usableFrames(map);
  }

  get freeCount(): number {
    return this.usable.size - this.refs.size - this.reserved.size;
  }

  isFree(frame: number): boolean {
    return this.usable.has(frame) && !this.refs.has(frame) && !this.reserved.has(frame);
  }

  /** Records a new run. */
  allocate(first: number, count: number): void {
    const id = this.nextRun++;
    for (let f = first; f < first + count; f++) {
      this.refs.set(f, 1);
      this.runOf.set(f, id);
    }
  }

  /** Records freeing frames of one run; the frames after them in that run become a run of their own. */
  free(first: number, count: number): void {
    const id = this.runOf.get(first);
    for (let f = first; f < first + count; f++) {
      this.refs.delete(f);
      this.runOf.delete(f);
    }
    const next = this.nextRun++;
    for (let f = first + count; this.runOf.get(f) === id && id !== undefined; f++) this.runOf.set(f, next);
  }

  /** The frames of the run that `frame` belongs to, in order. */
  runFrames(frame: number): number[] {
    const id = this.runOf.get(frame);
    let first = frame;
    while (this.runOf.get(first - 1) === id) first--;
    const out: number[] = [];
    for (let f = first; this.runOf.get(f) === id; f++) out.push(f);
    return out;
  }

  /** Throws (with a readable message) unless the allocator's statistics agree with the model. */
  checkStats(allocator: FrameAllocator): void {
    const s = allocator.stats();
    const want = {
      usable: this.usable.size,
      free: this.freeCount,
      used: this.refs.size + this.reserved.size,
      reserved: this.reserved.size,
    };
    const got = { usable: s.usableFrames, free: s.freeFrames, used: s.usedFrames, reserved: s.reservedFrames };
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      throw new Error(`stats disagree with the model: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    }
  }
}

/** Usable frame numbers of a map, computed the slow way: whole frames inside a usable entry, touching no other. */
export function usableFrames(map: FirmwareMemoryMap): Set<number> {
  const out = new Set<number>();
  for (const e of map) {
    if (e.type !== MemoryRegionType.Usable) continue;
    for (let a = Math.ceil(e.base / PAGE_SIZE) * PAGE_SIZE; a + PAGE_SIZE <= e.base + e.length; a += PAGE_SIZE) {
      if (a < 0x10_0000) continue;
      const blocked = map.some(
        (o) => o.type !== MemoryRegionType.Usable && o.base < a + PAGE_SIZE && o.base + o.length > a,
      );
      if (!blocked) out.add(a / PAGE_SIZE);
    }
  }
  return out;
}

/** A small deterministic PRNG (mulberry32), so suites that cannot use fast-check still replay exactly. */
export function seededRandom(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** One step of a random workload. `pick` numbers are resolved against the model's state when the step runs. */
export type ModelOp =
  | { readonly kind: "allocFrame" }
  | { readonly kind: "allocate"; readonly count: number; readonly alignShift: number; readonly limitMiB: number }
  | { readonly kind: "free"; readonly pick: number; readonly offset: number; readonly length: number }
  | { readonly kind: "badFree"; readonly pick: number }
  | { readonly kind: "reserve"; readonly pick: number; readonly length: number }
  | { readonly kind: "unreserve"; readonly pick: number }
  | { readonly kind: "retain"; readonly pick: number }
  | { readonly kind: "release"; readonly pick: number };

/** Random steps for {@link runModelOps}, drawn from `rand`. */
export function randomOps(rand: (n: number) => number, length: number): ModelOp[] {
  const ops: ModelOp[] = [];
  for (let i = 0; i < length; i++) {
    const r = rand(100);
    const pick = rand(1 << 30);
    if (r < 30) ops.push({ kind: "allocFrame" });
    else if (r < 50)
      ops.push({
        kind: "allocate",
        count: 1 + rand(40),
        alignShift: rand(4) === 0 ? rand(10) : 0,
        limitMiB: rand(3) === 0 ? 2 + rand(40) : 0,
      });
    else if (r < 75) ops.push({ kind: "free", pick, offset: rand(8), length: 1 + rand(40) });
    else if (r < 80) ops.push({ kind: "badFree", pick });
    else if (r < 85) ops.push({ kind: "reserve", pick, length: 1 + rand(16) });
    else if (r < 89) ops.push({ kind: "unreserve", pick });
    else if (r < 95) ops.push({ kind: "retain", pick });
    else ops.push({ kind: "release", pick });
  }
  return ops;
}

/**
 * Runs `ops` on `allocator` and on the model together, throwing at the first disagreement: a frame handed out twice,
 * outside usable RAM, misaligned or above a limit; a failure that changed something; a bad free not rejected.
 * `snapshot` (optional) captures implementation state, compared around every call that must change nothing.
 */
export function runModelOps(
  allocator: FrameAllocator,
  model: ReferenceModel,
  ops: readonly ModelOp[],
  snapshot?: () => unknown,
): void {
  const fail = (msg: string): never => {
    throw new Error(msg);
  };
  const expectUnchanged = (what: string, action: () => void): void => {
    const before = snapshot?.();
    const statsBefore = JSON.stringify(allocator.stats());
    action();
    if (JSON.stringify(allocator.stats()) !== statsBefore) fail(`${what} changed the statistics`);
    if (snapshot !== undefined && !deepEqual(before, snapshot())) fail(`${what} changed the allocator's metadata`);
  };
  const allocatedList = () => [...model.refs.keys()];

  for (const op of ops) {
    switch (op.kind) {
      case "allocFrame": {
        const expectNone = model.freeCount === 0;
        let a = 0;
        if (expectNone) expectUnchanged("allocFrame at exhaustion", () => (a = allocator.allocFrame()));
        else a = allocator.allocFrame();
        if (expectNone) {
          if (a !== 0) fail(`allocFrame returned ${a} with no free frame`);
          break;
        }
        if (a === 0) fail("allocFrame returned 0 while frames are free");
        checkFresh(model, a, 1, fail);
        model.allocate(a / PAGE_SIZE, 1);
        break;
      }
      case "allocate": {
        const align = PAGE_SIZE * 2 ** op.alignShift;
        const limit = op.limitMiB === 0 ? undefined : op.limitMiB * 0x10_0000;
        const request = { count: op.count, align, ...(limit === undefined ? {} : { limit }) };
        const before = snapshot?.();
        const statsBefore = JSON.stringify(allocator.stats());
        const r = allocator.allocate(request);
        if (!r.ok) {
          if (r.reason === "out-of-memory" && op.count <= model.freeCount)
            fail(`out-of-memory with ${model.freeCount} free`);
          if (JSON.stringify(allocator.stats()) !== statsBefore) fail("a failed allocate changed the statistics");
          if (snapshot !== undefined && !deepEqual(before, snapshot())) fail("a failed allocate changed the metadata");
          break;
        }
        if (r.count !== op.count) fail(`allocate returned count ${r.count}, asked ${op.count}`);
        if (r.address % align !== 0) fail(`allocate returned ${r.address}, not aligned to ${align}`);
        if (limit !== undefined && r.address + op.count * PAGE_SIZE > limit)
          fail(`run at ${r.address} ends above ${limit}`);
        checkFresh(model, r.address, op.count, fail);
        model.allocate(r.address / PAGE_SIZE, op.count);
        break;
      }
      case "free": {
        const list = allocatedList();
        if (list.length === 0) break;
        const frame = list[op.pick % list.length]!;
        if (model.refs.get(frame) !== 1) break;
        const run = model.runFrames(frame);
        const from = run.indexOf(frame);
        const first = run[Math.max(0, from - (op.offset % (from + 1)))]!;
        let count = 0;
        for (const f of run)
          if (f >= first && count < op.length && model.refs.get(f) === 1 && f === first + count) count++;
        if (count === 0) break;
        allocator.free(first * PAGE_SIZE, count);
        model.free(first, count);
        break;
      }
      case "badFree": {
        const candidates = [...model.usable].filter((f) => !model.refs.has(f));
        if (candidates.length === 0) break;
        const frame = candidates[op.pick % candidates.length]!;
        expectUnchanged("a bad free", () => {
          try {
            allocator.free(frame * PAGE_SIZE, 1);
          } catch (e) {
            if (e instanceof FrameError) return;
            throw e;
          }
          fail(`free of unallocated frame ${frame * PAGE_SIZE} did not throw`);
        });
        break;
      }
      case "reserve": {
        const free = [...model.usable].filter((f) => model.isFree(f));
        if (free.length === 0) break;
        const first = free[op.pick % free.length]!;
        let count = 0;
        while (count < op.length && model.isFree(first + count)) count++;
        allocator.reserve(first * PAGE_SIZE, count * PAGE_SIZE);
        for (let f = first; f < first + count; f++) model.reserved.add(f);
        model.reservations.push([first, count]);
        break;
      }
      case "unreserve": {
        if (model.reservations.length === 0) break;
        const i = op.pick % model.reservations.length;
        const [first, count] = model.reservations[i]!;
        allocator.unreserve(first * PAGE_SIZE, count * PAGE_SIZE);
        for (let f = first; f < first + count; f++) model.reserved.delete(f);
        model.reservations.splice(i, 1);
        break;
      }
      case "retain": {
        const list = allocatedList();
        if (list.length === 0) break;
        const frame = list[op.pick % list.length]!;
        const n = allocator.retain(frame * PAGE_SIZE);
        if (n !== model.refs.get(frame)! + 1) fail(`retain returned ${n}, model says ${model.refs.get(frame)! + 1}`);
        model.refs.set(frame, n);
        break;
      }
      case "release": {
        const list = allocatedList();
        if (list.length === 0) break;
        const frame = list[op.pick % list.length]!;
        const n = allocator.release(frame * PAGE_SIZE);
        const want = model.refs.get(frame)! - 1;
        if (n !== want) fail(`release returned ${n}, model says ${want}`);
        if (n === 0) model.free(frame, 1);
        else model.refs.set(frame, n);
        break;
      }
    }
    model.checkStats(allocator);
  }
}

/** Releases every reference and reservation the model knows of, so the allocator is back to all-free. */
export function releaseEverything(allocator: FrameAllocator, model: ReferenceModel): void {
  for (const [frame, n] of [...model.refs]) {
    for (let i = 0; i < n; i++) allocator.release(frame * PAGE_SIZE);
    model.free(frame, 1);
  }
  for (const [first, count] of model.reservations) {
    allocator.unreserve(first * PAGE_SIZE, count * PAGE_SIZE);
    for (let f = first; f < first + count; f++) model.reserved.delete(f);
  }
  model.reservations.length = 0;
  model.checkStats(allocator);
}

/** Throws unless [address, address + count frames) is aligned, usable and free in the model. */
function checkFresh(model: ReferenceModel, address: number, count: number, fail: (m: string) => never): void {
  if (address % PAGE_SIZE !== 0) fail(`address ${address} is not frame-aligned`);
  for (let f = address / PAGE_SIZE; f < address / PAGE_SIZE + count; f++) {
    if (!model.usable.has(f)) fail(`frame ${f * PAGE_SIZE} is not usable RAM`);
    if (model.refs.has(f)) fail(`frame ${f * PAGE_SIZE} handed out twice`);
    if (model.reserved.has(f)) fail(`reserved frame ${f * PAGE_SIZE} handed out`);
  }
}

/** Structural equality over plain data and typed arrays (what snapshots are made of). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
