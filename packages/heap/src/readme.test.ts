import { X86_64 } from "@ksim/arch-x86_64";
import { KernelPanic } from "@ksim/core";
import { Machine } from "@ksim/machine";
import { BuddyAllocator } from "@ksim/pmm";
import { expect, test } from "vitest";
import { Heap } from "./heap.js";
import { formatSlabinfo } from "./stats.js";

test("the README's example prints what the README says", () => {
  const machine = new Machine({ ramSize: 64 * 1024 * 1024 });
  const frames = new BuddyAllocator(machine.firmwareMemoryMap);
  const arch = new X86_64({ memory: machine.memory, frames });
  const heap = new Heap({ memory: arch.memory, frames, window: arch.layout.heap });

  const p = heap.kmalloc(100);
  expect(arch.formatAddress(p)).toBe("0xFFFFFF0001001010");
  expect([arch.memory.read32(p - 16).toString(16), arch.memory.read32(p - 12)]).toEqual(["a11c0006", 100]);
  arch.memory.fill(p, 100, 0x41);
  const q = heap.krealloc(p, 5000);
  expect([arch.formatAddress(q), arch.memory.read8(q + 99).toString(16)]).toEqual(["0xFFFFFF0001004010", "41"]);
  const big = heap.kmalloc(100_000);
  expect([arch.formatAddress(big), heap.stats().mappedBytes]).toEqual(["0xFFFFFF0001008000", 131072]);
  expect(formatSlabinfo(heap.slabinfo().filter((row) => row.slabs > 0))).toBe(
    [
      "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : slabdata <num_slabs> <pages>",
      "kmalloc-112                   0         32       128           32              1 : slabdata           1       1",
      "kmalloc-5k                    1          3      5136            3              4 : slabdata           1       4",
      "kmalloc-large                 1          1         0            1              0 : slabdata           1      25",
    ].join("\n"),
  );
  heap.kfree(q);
  expect(() => heap.kfree(q)).toThrow(KernelPanic);
  expect(() => heap.kfree(q)).toThrow(
    "*** MEMORY_MANAGEMENT_ERROR (0x01) in heap: kfree(0xFFFFFF0001004010): Multiple free detected: the block at 0xFFFFFF0001004010 was already freed",
  );
});
