import { X86_64 } from "@ksim/arch-x86_64";
import type { VirtAddr, VirtualMemory } from "@ksim/core";
import { Machine } from "@ksim/machine";
import { BuddyAllocator } from "@ksim/pmm";
import { Heap } from "../src/heap.js";
import { ChurnSession, type ChurnTarget } from "./churn.js";

/** Calls recorded; the replay cycles through them. */
const RECORDED_CALLS = 1 << 16;

/**
 * Forwards to a real VirtualMemory and records every 32-bit access the heap makes: address, and the value written
 * (-1 for a read). The heap's churn paths make no other kind of access.
 */
class RecordingMemory {
  addresses = new Float64Array(1 << 22);
  values = new Float64Array(1 << 22);
  length = 0;
  recording = false;

  constructor(readonly inner: VirtualMemory) {}

  read32(virt: VirtAddr): number {
    if (this.recording) this.push(virt, -1);
    return this.inner.read32(virt);
  }

  write32(virt: VirtAddr, value: number): void {
    if (this.recording) this.push(virt, value >>> 0);
    this.inner.write32(virt, value);
  }

  private push(virt: number, value: number): void {
    if (this.length === this.addresses.length) {
      const grow = (old: Float64Array) => {
        const next = new Float64Array(old.length * 2);
        next.set(old);
        return next;
      };
      this.addresses = grow(this.addresses);
      this.values = grow(this.values);
    }
    this.addresses[this.length] = virt;
    this.values[this.length++] = value;
  }
}

/** A recorded access sequence: per call `[bounds[c], bounds[c + 1])` of `addresses`/`values` (-1: a read). */
interface Recording {
  readonly addresses: Float64Array;
  readonly values: Float64Array;
  readonly bounds: Int32Array;
  /** The heap window's base. */
  readonly base: number;
  /** The real stack's kernel virtual memory the accesses were made through. */
  readonly vm: VirtualMemory;
}

/**
 * Runs the churn on a heap on the real stack and records the exact read32/write32 calls of 65,536 churn calls
 * (kfree and kmalloc alike) after a warm-up, on that machine, its page tables and addresses.
 */
function record(ramSize: number): Recording {
  const machine = new Machine({ ramSize });
  const frames = new BuddyAllocator(machine.firmwareMemoryMap);
  const arch = new X86_64({ memory: machine.memory, frames });
  const recorder = new RecordingMemory(arch.memory);
  // Every method the heap uses off the churn's paths (map, unmap, fill) goes straight to the real memory.
  const memory = new Proxy(recorder, {
    get: (target, key) => (key in target ? Reflect.get(target, key) : Reflect.get(arch.memory, key).bind(arch.memory)),
  }) as unknown as VirtualMemory;
  const heap = new Heap({ memory, frames, window: arch.layout.heap });
  const bounds = new Int32Array(RECORDED_CALLS + 1);
  let calls = 0;
  const after = () => {
    if (!recorder.recording) return;
    bounds[++calls] = recorder.length;
    if (calls === RECORDED_CALLS) recorder.recording = false;
  };
  const session = new ChurnSession({
    malloc: (n) => {
      const p = heap.kmalloc(n);
      after();
      return p;
    },
    free: (p) => {
      heap.kfree(p);
      after();
    },
  });
  session.run(300);
  recorder.length = 0;
  recorder.recording = true;
  while (recorder.recording) session.run(10);
  return {
    addresses: recorder.addresses.subarray(0, recorder.length),
    values: recorder.values.subarray(0, recorder.length),
    bounds,
    base: arch.layout.heap.base,
    vm: arch.memory,
  };
}

/**
 * Splits each recorded call into its reads and its writes (same addresses, same values), so the replay runs two
 * plain loops per call instead of branching on every access: a branch per access would mispredict about half the
 * time and cost more than the accesses themselves. Within a call the order changes; the pages and cache lines
 * touched do not.
 */
function split(recording: Recording): {
  reads: Float64Array;
  readBounds: Int32Array;
  writes: Float64Array;
  values: Float64Array;
  writeBounds: Int32Array;
} {
  const { addresses, values, bounds } = recording;
  const readCount = values.reduce((n, value) => n + (value < 0 ? 1 : 0), 0);
  const reads = new Float64Array(readCount);
  const writes = new Float64Array(values.length - readCount);
  const written = new Float64Array(values.length - readCount);
  const readBounds = new Int32Array(RECORDED_CALLS + 1);
  const writeBounds = new Int32Array(RECORDED_CALLS + 1);
  let r = 0;
  let w = 0;
  for (let call = 0; call < RECORDED_CALLS; call++) {
    for (let i = bounds[call]!; i < bounds[call + 1]!; i++) {
      if (values[i]! < 0) reads[r++] = addresses[i]!;
      else {
        writes[w] = addresses[i]!;
        written[w++] = values[i]!;
      }
    }
    readBounds[call + 1] = r;
    writeBounds[call + 1] = w;
  }
  return { reads, readBounds, writes, values: written, writeBounds };
}

/**
 * The floor under the heap on the real stack: its recorded read32/write32 calls replayed on the x86-64
 * VirtualMemory with nothing else. The heap cannot run faster than this on that memory.
 */
export function floorChurn(ramSize: number): ChurnTarget {
  const recording = record(ramSize);
  const { reads, readBounds, writes, values, writeBounds } = split(recording);
  const vm = recording.vm;
  let call = 0;
  let sink = 0;
  const replay = (): void => {
    for (let i = readBounds[call]!; i < readBounds[call + 1]!; i++) sink += vm.read32(reads[i]!);
    for (let i = writeBounds[call]!; i < writeBounds[call + 1]!; i++) vm.write32(writes[i]!, values[i]!);
    call = call + 1 === RECORDED_CALLS ? 0 : call + 1;
  };
  return churnOf(replay, () => sink);
}

/** The same accesses on a plain DataView over host memory (no MMU): what the data's own cache misses cost. */
export function hostFloorChurn(ramSize: number): ChurnTarget {
  const recording = record(ramSize);
  const { reads, readBounds, writes, values, writeBounds } = split(recording);
  const view = new DataView(new ArrayBuffer(64 * 1024 * 1024));
  const base = recording.base;
  let call = 0;
  let sink = 0;
  const replay = (): void => {
    for (let i = readBounds[call]!; i < readBounds[call + 1]!; i++) sink += view.getUint32(reads[i]! - base, true);
    for (let i = writeBounds[call]!; i < writeBounds[call + 1]!; i++)
      view.setUint32(writes[i]! - base, values[i]!, true);
    call = call + 1 === RECORDED_CALLS ? 0 : call + 1;
  };
  return churnOf(replay, () => sink);
}

/** A churn target whose kfree and kmalloc each replay one recorded call. */
function churnOf(replay: () => void, sink: () => number): ChurnTarget {
  return {
    malloc: () => {
      replay();
      return 16 + (sink() & 1);
    },
    free: () => replay(),
  };
}
