import { expect, test } from "vitest";
import { L1_KERNEL_READ, L1_STRIDE, L1_USER_WRITE, NO_VIEW, PERM_G, SIZE_2M, SIZE_4K, Tlb } from "./tlb.js";

const emptyL1 = (tlb: Tlb) =>
  tlb.l1.every((a) => a.every((v, i) => i % L1_STRIDE === 1 || i % L1_STRIDE === 3 || Number.isNaN(v))) &&
  tlb.l1Views.every((views) => views.every((v) => v === NO_VIEW));

test("emptying the L1 clears exactly what was filled, whether few or more slots than it tracks", () => {
  for (const fills of [3, 5000]) {
    const tlb = new Tlb(64 * 1024, 16 * 1024);
    for (let n = 0; n < fills; n++) tlb.promote(n % 2 ? L1_USER_WRITE : L1_KERNEL_READ, 0x1000 + n * 3, n * 0x1000);
    expect(emptyL1(tlb)).toBe(false);
    tlb.clearL1();
    expect(emptyL1(tlb)).toBe(true);
  }
});

test("a flush keeps global entries unless asked; invlpg drops one page of any size and empties the PDE cache", () => {
  const tlb = new Tlb(16, 16);
  tlb.fill(SIZE_4K, 5, 0x5000, PERM_G);
  tlb.fill(SIZE_4K, 6, 0x6000, 0);
  tlb.fill(SIZE_2M, 1, 0x20_0000, 0);
  tlb.cachePde(3, 0x9000, 7, false);
  tlb.flush(false);
  expect(tlb.entries().map((e) => e.linear)).toEqual([0x5000]);
  tlb.fill(SIZE_2M, 1, 0x20_0000, 0);
  tlb.invalidate(0x3f_f000);
  expect(tlb.entries().map((e) => e.linear)).toEqual([0x5000]);
  expect(tlb.pde.every((v) => Number.isNaN(v))).toBe(true);
  tlb.flush(true);
  expect(tlb.entries()).toEqual([]);
});
