import { KernelPanic, MEM_CREATE, MEM_DEFAULT } from "@ksim/core";
import { describe, expect, test } from "vitest";
import { bootTestArch, snapshot, type TestRig } from "./testing/harness.js";

// Exhaustion injected at every allocation point: allocation number k of the call fails, for k = 0, 1, ... until the
// call succeeds. Each failing call must leave the allocator's counts and every page-table byte exactly as before.

const USER_V = 0x40_0000;

/** Runs `call` with allocation k failing for every k; `failed` says whether the call reported failure. */
function everyAllocationPoint(prepare: () => TestRig & { state?: unknown }, call: (rig: TestRig) => boolean): number {
  for (let k = 0; k < 10_000; k++) {
    const rig = prepare();
    const before = snapshot(rig.arch, rig.frames, rig.memory);
    rig.frames.arm(k);
    const failed = call(rig);
    const attempts = rig.frames.attempts;
    rig.frames.arm(-1);
    if (!failed) {
      expect(attempts).toBe(k); // succeeded with exactly k allocations: every point was tried
      return k;
    }
    expect(snapshot(rig.arch, rig.frames, rig.memory)).toBe(before);
  }
  throw new Error("never succeeded");
}

function panics(action: () => void): boolean {
  try {
    action();
    return false;
  } catch (error) {
    expect(error).toBeInstanceOf(KernelPanic);
    expect((error as KernelPanic).stopName).toBe("OUT_OF_MEMORY");
    return true;
  }
}

describe("frame exhaustion at every allocation point rolls back completely", () => {
  test("mem_getPage(MEM_CREATE) returns 0 and keeps no table (3 allocation points)", () => {
    const points = everyAllocationPoint(
      () => bootTestArch(),
      ({ arch }) => arch.getPage(0, USER_V, MEM_CREATE) === 0,
    );
    expect(points).toBe(3);
  });

  test("mem_mapAddress panics OUT_OF_MEMORY and keeps no table", () => {
    const points = everyAllocationPoint(
      () => bootTestArch(),
      ({ arch }) => panics(() => arch.mapAddress(0, 0x8_0000, 0x7f00_0000_0000, MEM_DEFAULT)),
    );
    expect(points).toBe(3);
  });

  test("mem_allocatePage panics OUT_OF_MEMORY and leaves the page as it was", () => {
    const points = everyAllocationPoint(
      () => {
        const rig = bootTestArch();
        rig.arch.getPage(0, USER_V, MEM_CREATE);
        return rig;
      },
      ({ arch }) => panics(() => arch.allocatePage(arch.getPage(0, USER_V, MEM_DEFAULT), MEM_DEFAULT)),
    );
    expect(points).toBe(1);
  });

  test("mem_createVAS returns 0", () => {
    expect(
      everyAllocationPoint(
        () => bootTestArch(),
        ({ arch }) => arch.createVAS() === 0,
      ),
    ).toBe(1);
  });

  test("mem_clone returns 0 and gives back every table and copied frame", () => {
    const prepare = () => {
      const rig = bootTestArch();
      const { arch } = rig;
      for (let i = 0; i < 6; i++) arch.allocatePage(arch.getPage(0, USER_V + i * 0x20_0000, MEM_CREATE), MEM_DEFAULT);
      arch.allocatePage(arch.getPage(0, 0x7f00_0000_0000, MEM_CREATE), MEM_DEFAULT);
      arch.mapAddress(0, 0x8_0000, USER_V + 0x1000, MEM_DEFAULT);
      return rig;
    };
    // PML4 + (PDPT, PD, 6 PTs, 6 pages) + (PDPT, PD, PT, page).
    expect(everyAllocationPoint(prepare, ({ arch }) => arch.cloneVAS(0) === 0)).toBe(1 + 14 + 4);
  });

  test("VirtualMemory.map fails with out-of-frames and keeps no table", () => {
    const points = everyAllocationPoint(
      () => bootTestArch(),
      ({ arch }) => {
        const result = arch.memory.map(0x7f00_0000_0000 - 0x20_0000, 0x10_0000, 0x40_0000, {
          writable: true,
          user: false,
          executable: false,
        });
        if (!result.ok) expect(result.reason).toBe("out-of-frames");
        return !result.ok;
      },
    );
    expect(points).toBe(6); // the range straddles a 512 GiB boundary: two PDPTs, two PDs, two PTs
  });
});
