import { describe, expect, it } from "vitest";
import { boot } from "./boot.js";
import { BootLog } from "./log.js";
import { meminfo } from "./meminfo.js";
import { runDmaDemo, runFramebufferDemo, runHeapDemo } from "./scenarios.js";

const MiB = 2 ** 20;

describe("the demo boot", () => {
  it("boots a 64 GiB machine without touching host memory for all of it", () => {
    const system = boot(64 * 2 ** 30);
    expect(system.pmm.stats().usableFrames).toBeGreaterThan(((64 * 2 ** 30) / 4096) * 0.95);
    expect(system.machine.stats.ramBytesAllocated).toBeLessThan(64 * MiB);
  });

  it("runs the heap scenario: a bad kfree panics and the heap ends empty", () => {
    const system = boot(64 * MiB);
    const log = new BootLog(false);
    expect(runHeapDemo(system, log).badFreeRefused).toBe(true);
    expect(system.heap.stats().liveBlocks).toBe(0);
    expect(log.lines.some((line) => line.includes("MEMORY_MANAGEMENT_ERROR"))).toBe(true);
    // The slabinfo printed while the blocks were live: kcalloc(16, 32) in kmalloc-512, krealloc's 5000 in kmalloc-5k.
    const text = log.lines.join("\n");
    expect(text).toMatch(/^kmalloc-512 +1 /m);
    expect(text).toMatch(/^kmalloc-5k +1 /m);
  });

  it("runs the DMA scenario: CPU and device see each other's writes, and free returns the frames", () => {
    const system = boot(64 * MiB);
    const result = runDmaDemo(system, new BootLog(false));
    expect(result).toEqual({ deviceSaw: "hello from the CPU", cpuSaw: "hello from the device", framesFreed: true });
    expect(system.dma.mem_getDMAUsage()).toBe(0);
  });

  it("runs the seed's example on a framebuffer: memset through an MMIO mapping clears the device memory", () => {
    const system = boot(64 * MiB);
    const result = runFramebufferDemo(system, new BootLog(false));
    expect(result).toEqual({ cleared: true, faultsAfterUnmap: true });
    expect(system.dma.mem_getMMIOUsage()).toBe(0);
    expect(meminfo(system)).toMatch(/MmioMapped:\s+0 kB/);
  });
});
