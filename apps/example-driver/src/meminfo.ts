import type { BootedSystem } from "./boot.js";

function kB(bytes: number): string {
  return `${String(Math.floor(bytes / 1024)).padStart(12)} kB`;
}

/** A /proc/meminfo-style view of the booted system. */
export function meminfo({ pmm, heap, dma }: BootedSystem): string {
  const frames = pmm.stats();
  const heapStats = heap.stats();
  const rows: [string, number][] = [
    ["MemTotal", frames.usableFrames * frames.frameSize],
    ["MemFree", frames.freeFrames * frames.frameSize],
    ["MemUsed", frames.usedFrames * frames.frameSize],
    ["Reserved", frames.reservedFrames * frames.frameSize],
    ["KernelHeap", heapStats.mappedBytes],
    ["HeapLive", heapStats.liveBytes],
    ["DmaUsed", dma.mem_getDMAUsage()],
    ["MmioMapped", dma.mem_getMMIOUsage()],
  ];
  return rows.map(([name, bytes]) => `${`${name}:`.padEnd(16)}${kB(bytes)}`).join("\n");
}
