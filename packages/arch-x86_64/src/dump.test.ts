import {
  MEM_CREATE,
  MEM_PAGE_KERNEL,
  MEM_PAGE_NO_EXECUTE,
  MEM_PAGE_READONLY,
  MEM_PAGE_WRITE_COMBINE,
} from "@ksim/core";
import { expect, test } from "vitest";
import { collectMappings, describeErrorCode, mergeMappings } from "./dump.js";
import { bootTestArch } from "./testing/harness.js";

test("info mem merges contiguous pages with equal permissions and type, in canonical 64-bit form", () => {
  const { arch } = bootTestArch();
  for (let i = 0; i < 3; i++) arch.mapAddress(0, 0x8_0000 + i * 0x1000, 0x40_0000 + i * 0x1000, MEM_PAGE_READONLY);
  arch.mapAddress(0, 0x8_3000, 0x40_3000, 0); // writable: a new range
  const mmio = arch.layout.mmio.base;
  arch.mapAddress(0, 0xfd00_0000, mmio, MEM_PAGE_KERNEL | MEM_PAGE_NO_EXECUTE | MEM_PAGE_WRITE_COMBINE);
  const lines = arch.mmu.infoMem().split("\n");
  expect(lines).toEqual([
    "0000000000400000-0000000000403000 0000000000003000 ur-x WB",
    "0000000000403000-0000000000404000 0000000000001000 urwx WB",
    "ffffff8000000000-ffffff8040000000 0000000040000000 -rw- WB",
    "fffffff000000000-fffffff000001000 0000000000001000 -rw- WC",
  ]);
});

test("info tlb lists each leaf with QEMU's flag letters; A and D appear once the CPU sets them", () => {
  const { arch } = bootTestArch();
  arch.allocatePage(arch.getPage(0, 0x40_0000, MEM_CREATE), MEM_PAGE_KERNEL);
  const frame = arch.getFrame(arch.getPage(0, 0x40_0000, 0));
  const line = () => arch.mmu.infoTlb().split("\n")[0];
  expect(line()).toBe(`0000000000400000: ${frame.toString(16).padStart(16, "0")} --------W WB`);
  arch.memory.write8(0x40_0000, 1);
  expect(line()).toBe(`0000000000400000: ${frame.toString(16).padStart(16, "0")} ---DA---W WB`);
  expect(arch.mmu.infoTlb().split("\n")[1]).toBe("ffffff8000000000: 0000000000000000 XGP-----W WB");
});

test("the mapping list and merged ranges cover exactly what the tables map", () => {
  const { arch } = bootTestArch();
  const mappings = collectMappings(arch.mmu);
  expect(mappings).toHaveLength(1); // the HHDM's single GiB on a 16 MiB machine
  expect(mergeMappings(mappings)).toEqual([
    {
      start: arch.layout.hhdm.base,
      end: arch.layout.hhdm.base + 2 ** 30,
      writable: true,
      user: false,
      executable: false,
      memoryType: 6,
    },
  ]);
});

test("error codes are spelled out bit by bit", () => {
  expect(describeErrorCode(0x0)).toBe("not present, R (read), S (supervisor)");
  expect(describeErrorCode(0x1f)).toBe("P (protection), W (write), U (user), RSVD, I/D (instruction fetch)");
});
