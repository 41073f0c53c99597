import type { PhysicalMemory, VirtualMemory } from "@ksim/core";
import fc from "fast-check";
import { expect } from "vitest";

/**
 * The property both L1 test files share: random reads and writes of 1, 2 and 4 bytes through `vm` over `pages`
 * mapped pages from `base` (the last page only takes the ends of page-crossing accesses) agree with `memory` at the
 * translated address, byte by byte. Whatever tier of the L1 serves an access, the bytes must be the bus's.
 */
export function assertAccessesAgreeWithMemory(
  vm: VirtualMemory,
  memory: PhysicalMemory,
  base: number,
  pages: number,
  numRuns: number,
): void {
  const op = fc.record({
    page: fc.integer({ min: 0, max: pages - 2 }),
    offset: fc.integer({ min: 0, max: 0xfff }),
    width: fc.constantFrom(1, 2, 4),
    write: fc.boolean(),
    value: fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
  });
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 80 }), (ops) => {
      for (const { page, offset, width, write, value } of ops) {
        const virt = base + page * 0x1000 + offset;
        if (write) {
          const v = width === 4 ? value : value & (width === 2 ? 0xffff : 0xff);
          if (width === 1) vm.write8(virt, v);
          else if (width === 2) vm.write16(virt, v);
          else vm.write32(virt, v);
          for (let k = 0; k < width; k++) {
            expect(memory.read8(vm.translate(virt + k))).toBe(Math.floor((v >>> 0) / 2 ** (8 * k)) & 0xff);
          }
        } else {
          const got = width === 1 ? vm.read8(virt) : width === 2 ? vm.read16(virt) : vm.read32(virt);
          let want = 0;
          for (let k = 0; k < width; k++) want += memory.read8(vm.translate(virt + k)) * 2 ** (8 * k);
          expect(got).toBe(want);
        }
      }
    }),
    { numRuns },
  );
}
