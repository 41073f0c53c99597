import { formatCanonical48, formatHex, KernelPanic, PageFault } from "@ksim/core";
import { formatSlabinfo } from "@ksim/heap";
import type { BootedSystem } from "./boot.js";
import { type BootLog, DEBUG, ERR, INFO, NOHEADER } from "./log.js";

const MiB = 2 ** 20;

/** kmalloc and friends in the simulated heap window, including a bad free that panics and changes nothing. */
export function runHeapDemo({ heap }: BootedSystem, log: BootLog): { readonly badFreeRefused: boolean } {
  let badFreeRefused = false;
  const p = heap.kmalloc(100);
  const table = heap.kcalloc(16, 32);
  log.print(DEBUG, "heap", `kmalloc(100) = ${formatCanonical48(p)}, kcalloc(16, 32) = ${formatCanonical48(table)}`);
  const grown = heap.krealloc(p, 5000);
  log.print(DEBUG, "heap", `krealloc(p, 5000) = ${formatCanonical48(grown)}`);
  log.print(INFO, "heap", "Caches in use (/proc/slabinfo):");
  log.print(NOHEADER, "", formatSlabinfo(heap.slabinfo().filter((row) => row.slabs > 0)));
  try {
    heap.kfree(grown + 8);
  } catch (error) {
    if (!(error instanceof KernelPanic)) throw error;
    badFreeRefused = true;
    log.print(ERR, "heap", `kfree(p + 8) refused: ${error.message}`);
  }
  heap.kfree(grown);
  heap.kfree(table);
  const stats = heap.stats();
  log.print(INFO, "heap", `${stats.liveBlocks} live blocks, ${stats.mappedBytes} bytes mapped, ${stats.frames} frames`);
  return { badFreeRefused };
}

/** A DMA buffer shared with a bus-mastering device: each side sees what the other wrote. */
export function runDmaDemo(
  { dma, mem, machine, arch, pmm }: BootedSystem,
  log: BootLog,
): { readonly deviceSaw: string; readonly cpuSaw: string; readonly framesFreed: boolean } {
  const buffer = dma.mem_allocateDMA(8192);
  const bus = mem.mem_getPhysicalAddress(null, buffer);
  log.print(DEBUG, "dma", `mem_allocateDMA(8192) = ${formatCanonical48(buffer)}, bus address ${formatHex(bus, 8)}`);

  const message = new TextEncoder().encode("hello from the CPU");
  arch.memory.write(buffer, message);
  const device = machine.createBusMaster(() => true);
  const seen = new Uint8Array(message.length);
  device.read(bus, seen);
  log.print(DEBUG, "dma", `The device reads: "${new TextDecoder().decode(seen)}"`);
  device.write(bus + 4096, new TextEncoder().encode("hello from the device"));
  const reply = new Uint8Array(21);
  arch.memory.read(buffer + 4096, reply);
  log.print(DEBUG, "dma", `The CPU reads: "${new TextDecoder().decode(reply)}"`);

  dma.mem_freeDMA(buffer, 8192);
  const framesFreed = pmm.refCount(bus) === 0 && pmm.refCount(bus + 4096) === 0;
  log.print(
    INFO,
    "dma",
    `mem_freeDMA unmapped the buffer; its frames are ${framesFreed ? "free again" : "STILL HELD"}`,
  );
  return { deviceSaw: new TextDecoder().decode(seen), cpuSaw: new TextDecoder().decode(reply), framesFreed };
}

/** The seed's example, minus PCI: map a 16 MiB framebuffer "BAR" as MMIO, memset it, unmap it. */
export function runFramebufferDemo(
  { dma, machine, arch }: BootedSystem,
  log: BootLog,
): { readonly cleared: boolean; readonly faultsAfterUnmap: boolean } {
  const bar = { address: 0xc000_0000, size: 16 * MiB };
  const vram = new Uint8Array(bar.size).fill(0x5a);
  machine.addressMap.addRegion(bar.address, bar.size, { kind: "ram", name: "VGA framebuffer", bytes: vram });

  const m = dma.mem_mapMMIO(bar.address, bar.size);
  log.print(DEBUG, "example", `Mapped memory to ${formatCanonical48(m)}`);
  // Twice: the first memset misses the TLB on each of its 4,096 pages (a walk that also sets D), the second hits.
  const tlb = arch.mmu.tlb;
  for (const round of ["first", "second"]) {
    const misses = tlb.misses;
    const started = performance.now();
    arch.memory.fill(m, bar.size, round === "first" ? 0 : 0x11);
    const elapsed = performance.now() - started;
    log.print(
      INFO,
      "example",
      `${round} memset(m, ${round === "first" ? 0 : "0x11"}, 16 MiB) through the page tables: ${elapsed.toFixed(2)} ms, ${tlb.misses - misses} TLB misses`,
    );
  }
  arch.memory.fill(m, bar.size, 0);
  const cleared = isZero(vram);
  log.print(INFO, "example", `framebuffer cleared: ${cleared}`);
  dma.mem_unmapMMIO(m, bar.size);
  try {
    arch.memory.read8(m);
    log.print(ERR, "example", "The mapping is still there after mem_unmapMMIO");
    return { cleared, faultsAfterUnmap: false };
  } catch (error) {
    if (!(error instanceof PageFault)) throw error;
    log.print(INFO, "example", `After mem_unmapMMIO the address faults: ${error.message}`);
    return { cleared, faultsAfterUnmap: true };
  }
}

function isZero(bytes: Uint8Array): boolean {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  return true;
}
