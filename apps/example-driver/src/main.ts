// The ksim demo: boots a simulated x86-64 machine, brings up the kernel's memory subsystems and runs the seed's
// "map a BAR and memset it" flow on a framebuffer, printing a boot log as a kernel would.

import { formatInfoMem } from "@ksim/arch-x86_64";
import { formatCanonical48, formatHex, type VirtualWindow } from "@ksim/core";
import { formatE820 } from "@ksim/machine";
import { formatBytes } from "@ksim/pmm";
import { boot } from "./boot.js";
import { BootLog, INFO, NOHEADER } from "./log.js";
import { meminfo } from "./meminfo.js";
import { runDmaDemo, runFramebufferDemo, runHeapDemo } from "./scenarios.js";

const GiB = 2 ** 30;

function parseRamSize(argv: readonly string[]): number {
  const index = argv.indexOf("--ram");
  if (index < 0) return 512 * 2 ** 20;
  const text = argv[index + 1] ?? "";
  const match = /^(\d+)([MG])$/i.exec(text);
  if (!match) throw new Error(`--ram takes a size like 512M or 64G, not ${JSON.stringify(text)}`);
  return Number(match[1]) * (match[2]!.toUpperCase() === "G" ? GiB : 2 ** 20);
}

function windowLine(window: VirtualWindow): string {
  return `${window.name.padEnd(8)} ${formatCanonical48(window.base)} - ${formatCanonical48(window.base + window.size - 1)} (${formatBytes(window.size)})`;
}

const log = new BootLog();
const ramSize = parseRamSize(process.argv.slice(2));
log.print(INFO, "ksim", `Booting a simulated x86-64 machine with ${formatBytes(ramSize)} of RAM`);
const started = performance.now();
const system = boot(ramSize);
const { machine, pmm, arch } = system;
log.print(INFO, "mem", `Boot took ${(performance.now() - started).toFixed(1)} ms`);

log.print(INFO, "firmware", "Memory map provided by the firmware:");
log.print(NOHEADER, "", formatE820(machine.firmwareMemoryMap));

const stats = pmm.stats();
log.print(
  INFO,
  "pmm",
  `${stats.usableFrames} usable frames (${formatBytes(stats.usableFrames * stats.frameSize)}), ${stats.freeFrames} free`,
);
log.print(INFO, "pmm", "Free blocks per order (/proc/buddyinfo):");
log.print(NOHEADER, "", pmm.formatBuddyInfo());

log.print(INFO, "mem", `Paging on: kernel PML4 at ${formatHex(arch.getKernelDirectory(), 16)}. Virtual layout:`);
for (const window of Object.values(arch.layout)) log.print(NOHEADER, "", `  ${windowLine(window)}`);

runHeapDemo(system, log);
runDmaDemo(system, log);
runFramebufferDemo(system, log);

log.print(INFO, "mem", "Kernel mappings (info mem):");
log.print(NOHEADER, "", formatInfoMem(arch.mmu));
log.print(INFO, "mem", "/proc/meminfo:");
log.print(NOHEADER, "", meminfo(system));
