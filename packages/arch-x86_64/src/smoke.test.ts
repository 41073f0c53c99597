import { Access, MEM_CREATE, MEM_DEFAULT, MEM_PAGE_KERNEL } from "@ksim/core";
import { expect, test } from "vitest";
import { FlatMemory } from "./testing/flat-memory.js";
import { FreeListFrames } from "./testing/free-list-frames.js";
import { X86_64 } from "./x86-64.js";

test("smoke", () => {
  const memory = new FlatMemory(32 * 1024 * 1024);
  const frames = new FreeListFrames(0x10_0000, 31 * 1024 * 1024);
  const arch = new X86_64({ memory, frames });
  const page = arch.getPage(0, 0x40_0000, MEM_CREATE);
  expect(page).not.toBe(0);
  arch.allocatePage(page, MEM_PAGE_KERNEL);
  arch.memory.write32(0x40_0010, 0xdeadbeef);
  expect(arch.memory.read32(0x40_0010)).toBe(0xdeadbeef);
  console.log(arch.mmu.explainText(0x40_0010, Access.Write));
  console.log(arch.mmu.infoMem());
  console.log(arch.mmu.explainText(0x50_0010, Access.Read, true));
  console.log(arch.mmu.explainText(arch.layout.hhdm.base + 0x1234, Access.Read));
  expect(arch.memory.read32(arch.layout.hhdm.base + arch.getFrame(page) + 0x10)).toBe(0xdeadbeef);
  void MEM_DEFAULT;
});
