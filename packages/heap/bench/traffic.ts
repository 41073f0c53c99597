import { Heap } from "../src/heap.js";
import { FakeFrames } from "../src/testing/fake-frames.js";
import { ChurnSession } from "./churn.js";
import { FlatMemory } from "./flat-memory.js";

/** A flat memory that counts the heap's accesses on the churn's paths: 32-bit reads and writes, page views. */
class CountingMemory extends FlatMemory {
  reads = 0;
  writes = 0;
  views = 0;
  override pageView(virt: number, write: boolean, slot: { offset: number }): DataView {
    this.views++;
    return super.pageView(virt, write, slot);
  }
  override read32(virt: number): number {
    this.reads++;
    return super.read32(virt);
  }
  override write32(virt: number, value: number): void {
    this.writes++;
    super.write32(virt, value);
  }
}

/**
 * The heap's simulated-memory traffic on the churn: 32-bit reads and writes and page views (each one translation;
 * the header's words are then read and written through it) per call (kfree and kmalloc alike), counted over a flat
 * memory after the same warm-up as the timed runs.
 */
export function churnTraffic(): { reads: number; writes: number; views: number } {
  const size = 256 * 1024 * 1024;
  const base = 0xff00_0000_0000;
  const memory = new CountingMemory(base, size);
  const heap = new Heap({ memory, frames: new FakeFrames(size / 4096), window: { name: "heap", base, size } });
  const session = new ChurnSession({ malloc: (n) => heap.kmalloc(n), free: (p) => heap.kfree(p) });
  session.run(200);
  memory.reads = 0;
  memory.writes = 0;
  memory.views = 0;
  const { calls } = session.run(300);
  return { reads: memory.reads / calls, writes: memory.writes / calls, views: memory.views / calls };
}
