import {
  Access,
  type Arch,
  type FrameAllocator,
  InvalidArgumentError,
  KernelPanic,
  MEM_CREATE,
  MEM_DEFAULT,
  MEM_PAGE_KERNEL,
  MEM_PAGE_NOALLOC,
  MEM_PAGE_READONLY,
  PageFault,
  type PhysicalMemory,
} from "@ksim/core";
import { describe, expect, test } from "vitest";

/** What the conformance suite needs: a freshly booted architecture, its frame allocator and physical memory. */
export interface ArchUnderTest {
  readonly arch: Arch;
  readonly frames: FrameAllocator;
  readonly physical: PhysicalMemory;
}

/** Takes every free frame; returns them for {@link giveBack}. */
function exhaust(frames: FrameAllocator): number[] {
  const taken: number[] = [];
  for (let f = frames.allocFrame(); f !== 0; f = frames.allocFrame()) taken.push(f);
  return taken;
}

function giveBack(frames: FrameAllocator, taken: number[]): void {
  for (const f of taken) frames.free(f);
}

/**
 * The architecture conformance suite: the same tests for every package that implements `Arch` from `@ksim/core`.
 * It only uses the contract (the seed's macros and mem_* calls, the MMU's translate, VirtualMemory), so a second
 * architecture runs it unchanged:
 *
 * ```ts
 * import { describeArchConformance } from "@ksim/arch-x86_64/conformance";
 * describeArchConformance("my-arch", () => ({ arch, frames, physical }));
 * ```
 *
 * `factory` is called once per test and must return a freshly booted architecture. User-half addresses come from
 * `arch.layout.user`, kernel ones from `arch.layout.heap`.
 */
export function describeArchConformance(name: string, factory: () => ArchUnderTest): void {
  describe(`Arch conformance: ${name}`, () => {
    const userPage = (arch: Arch, n = 0) => arch.layout.user.base + 0x40_0000 + n * arch.pageSize;

    test("MEM_ALIGN_PAGE rounds up, keeps aligned addresses; the destructive form rounds down", () => {
      const { arch } = factory();
      const p = arch.pageSize;
      expect(arch.alignPage(p)).toBe(p);
      expect(arch.alignPage(p + 1)).toBe(2 * p);
      expect(arch.alignPage(0)).toBe(0);
      expect(arch.alignPageDown(2 * p - 1)).toBe(p);
      expect(() => arch.alignPage(Number.NaN)).toThrow(InvalidArgumentError);
      expect(() => arch.alignPage(-1)).toThrow(InvalidArgumentError);
    });

    test("the layout's windows are page-aligned, non-empty and disjoint", () => {
      const { arch } = factory();
      const windows = Object.values(arch.layout).sort((a, b) => a.base - b.base);
      for (const w of windows) {
        expect(w.size).toBeGreaterThan(0);
        expect(w.base % arch.pageSize).toBe(0);
        expect(w.base + w.size).toBeLessThanOrEqual(2 ** arch.linearAddressBits);
      }
      for (let i = 1; i < windows.length; i++) {
        expect(windows[i]!.base).toBeGreaterThanOrEqual(windows[i - 1]!.base + windows[i - 1]!.size);
      }
      const mmio = arch.layout.mmio.base;
      expect(arch.parseAddress(BigInt(arch.formatAddress(mmio)))).toBe(mmio);
    });

    test("mem_getPage creates tables only with MEM_CREATE and returns the same entry afterwards", () => {
      const { arch, frames } = factory();
      const free = frames.stats().freeFrames;
      const v = userPage(arch);
      expect(arch.getPage(0, v, MEM_DEFAULT)).toBe(0);
      expect(frames.stats().freeFrames).toBe(free);
      const page = arch.getPage(0, v, MEM_CREATE);
      expect(page).not.toBe(0);
      expect(arch.getPage(0, v + 1, MEM_DEFAULT)).toBe(page);
      expect(arch.pageIsPresent(page)).toBe(false);
      expect(() => arch.getPage(0, v, 0x40)).toThrow(InvalidArgumentError);
    });

    test("MEM_DEFAULT gives a present, writable, user page that the MMU lets user code read, write and run", () => {
      const { arch } = factory();
      const v = userPage(arch);
      const page = arch.getPage(0, v, MEM_CREATE);
      arch.allocatePage(page, MEM_DEFAULT);
      expect([arch.pageIsPresent(page), arch.pageIsWritable(page), arch.pageIsUsermode(page)]).toEqual([
        true,
        true,
        true,
      ]);
      const frame = arch.getFrame(page);
      for (const access of [Access.Read, Access.Write, Access.Execute]) {
        expect(arch.mmu.translate(v + 12, access, true)).toBe(frame + 12);
      }
      arch.memory.write32(v + 12, 0x1234_5678);
      expect(arch.memory.read32(v + 12)).toBe(0x1234_5678);
      expect(arch.pageIsDirty(page)).toBe(true);
    });

    test("MEM_PAGE_KERNEL and MEM_PAGE_READONLY take user access and writability away", () => {
      const { arch } = factory();
      const v = userPage(arch);
      const page = arch.getPage(0, v, MEM_CREATE);
      arch.allocatePage(page, MEM_PAGE_KERNEL | MEM_PAGE_READONLY);
      expect(arch.mmu.translate(v, Access.Read, true)).toBe(-1);
      expect(arch.mmu.translate(v, Access.Read, false)).toBe(arch.getFrame(page));
      arch.allocatePage(page, MEM_PAGE_NOALLOC | MEM_PAGE_READONLY);
      expect(arch.mmu.translate(v, Access.Read, true)).toBe(arch.getFrame(page));
      expect(arch.mmu.translate(v, Access.Write, true)).toBe(-1);
    });

    test("mem_freePage unmaps the page (TLB included) and gives its frame back", () => {
      const { arch, frames } = factory();
      const v = userPage(arch);
      const page = arch.getPage(0, v, MEM_CREATE);
      arch.allocatePage(page, MEM_DEFAULT);
      arch.memory.read32(v);
      const free = frames.stats().freeFrames;
      arch.freePage(page);
      expect(frames.stats().freeFrames).toBe(free + 1);
      expect(arch.mmu.translate(v, Access.Read, false)).toBe(-1);
      expect(arch.pageIsPresent(page)).toBe(false);
    });

    test("mem_mapAddress maps, remaps coherently, and mem_getPhysicalAddress follows", () => {
      const { arch, physical } = factory();
      const v = arch.layout.heap.base;
      const frameA = 0x8_0000;
      const frameB = 0x9_0000;
      physical.write32(frameA, 1);
      physical.write32(frameB, 2);
      arch.mapAddress(0, frameA, v, MEM_PAGE_KERNEL);
      expect(arch.getPhysicalAddress(0, v + 4)).toBe(frameA + 4);
      expect(arch.memory.read32(v)).toBe(1);
      arch.mapAddress(0, frameB, v, MEM_PAGE_KERNEL);
      expect(arch.memory.read32(v)).toBe(2);
      expect(arch.getPhysicalAddress(0, v + arch.pageSize * 100)).toBe(0);
    });

    test("VirtualMemory.pageView, when offered, sees what scalar accesses see and faults like them", () => {
      const { arch, physical } = factory();
      const vm = arch.memory;
      if (vm.pageView === undefined) return; // optional: nothing to check
      const v = arch.layout.heap.base;
      arch.mapAddress(0, 0x8_0000, v, MEM_PAGE_KERNEL);
      arch.mapAddress(0, 0x9_0000, v + arch.pageSize, MEM_PAGE_KERNEL | MEM_PAGE_READONLY);
      physical.write32(0x8_0020, 0x1234_5678);
      const slot = { offset: 0 };
      for (let k = 0; k < 2; k++) {
        const view = vm.pageView(v + 0x20, false, slot);
        expect(view).not.toBeNull();
        expect(view!.getUint32(slot.offset, true)).toBe(0x1234_5678);
      }
      const w = vm.pageView(v + 0x24, true, slot)!;
      w.setUint32(slot.offset, 0xabcd, true);
      expect(vm.read32(v + 0x24)).toBe(0xabcd);
      expect(physical.read32(0x8_0024)).toBe(0xabcd);
      expect(vm.pageView(v + arch.pageSize, false, slot)).not.toBeNull();
      expect(() => vm.pageView!(v + arch.pageSize, true, slot)).toThrow(PageFault);
      expect(() => vm.pageView!(v + 2 * arch.pageSize, false, slot)).toThrow(PageFault);
      expect(() => vm.pageView!(Number.NaN, false, slot)).toThrow(InvalidArgumentError);
    });

    test("mem_remapPhys gives an address that reads physical memory", () => {
      const { arch, physical } = factory();
      physical.write32(0x7_0010, 0xfeed);
      const v = arch.remapPhys(0x7_0000, arch.pageSize);
      expect(arch.memory.read32(v + 0x10)).toBe(0xfeed);
      expect(arch.getPhysicalAddress(0, v + 0x10)).toBe(0x7_0010);
      arch.unmapPhys(v, arch.pageSize);
    });

    test("address spaces: clone copies the user half privately, shares the kernel half; destroy leaks nothing", () => {
      const { arch, frames } = factory();
      const heap = arch.layout.heap.base;
      // Kernel-half tables, once made, stay: make them before counting.
      arch.getPage(0, heap, MEM_CREATE);
      const free = frames.stats().freeFrames;
      const parent = arch.createVAS();
      expect(parent).not.toBe(0);
      arch.switchDirectory(parent);
      expect(arch.getCurrentDirectory()).toBe(parent);
      const v = userPage(arch);
      arch.allocatePage(arch.getPage(0, v, MEM_CREATE), MEM_DEFAULT);
      arch.memory.write32(v, 7);
      arch.allocatePage(arch.getPage(0, heap, MEM_CREATE), MEM_PAGE_KERNEL);
      const child = arch.cloneVAS(0);
      expect(child).not.toBe(0);
      arch.switchDirectory(child);
      expect(arch.memory.read32(v)).toBe(7);
      arch.memory.write32(v, 8);
      arch.memory.write32(heap, 9);
      arch.switchDirectory(parent);
      expect(arch.memory.read32(v)).toBe(7);
      expect(arch.memory.read32(heap)).toBe(9);
      arch.switchDirectory(0);
      expect(arch.getCurrentDirectory()).toBe(arch.getKernelDirectory());
      arch.freePage(arch.getPage(0, heap, MEM_DEFAULT));
      arch.destroyVAS(parent);
      arch.destroyVAS(child);
      expect(frames.stats().freeFrames).toBe(free);
    });

    test("out of frames: mem_getPage(MEM_CREATE), mem_createVAS and mem_clone return 0; void calls panic; nothing leaks", () => {
      const { arch, frames } = factory();
      const v = userPage(arch);
      arch.allocatePage(arch.getPage(0, v, MEM_CREATE), MEM_DEFAULT);
      const taken = exhaust(frames);
      const free = frames.stats().freeFrames;
      expect(arch.getPage(0, v + 2 ** 30, MEM_CREATE)).toBe(0);
      expect(arch.createVAS()).toBe(0);
      expect(arch.cloneVAS(0)).toBe(0);
      expect(() => arch.allocatePage(arch.getPage(0, v, MEM_DEFAULT), MEM_DEFAULT)).toThrow(KernelPanic);
      expect(() => arch.mapAddress(0, 0x8_0000, v + 2 ** 30, MEM_DEFAULT)).toThrow(KernelPanic);
      expect(frames.stats().freeFrames).toBe(free);
      giveBack(frames, taken);
      expect(arch.memory.read32(v)).toBe(0);
    });

    test("malformed arguments throw InvalidArgumentError and change nothing", () => {
      const { arch, frames } = factory();
      const free = frames.stats().freeFrames;
      const v = userPage(arch);
      for (const bad of [Number.NaN, -1, 0.5, 2 ** 64]) {
        expect(() => arch.getPage(0, bad, MEM_CREATE)).toThrow(InvalidArgumentError);
        expect(() => arch.mapAddress(0, bad, v, MEM_DEFAULT)).toThrow(InvalidArgumentError);
        expect(() => arch.mapAddress(0, 0x8_0000, bad, MEM_DEFAULT)).toThrow(InvalidArgumentError);
        expect(() => arch.getPhysicalAddress(0, bad)).toThrow(InvalidArgumentError);
      }
      expect(() => arch.mapAddress(0, 0x8_0000, v, 0x1_0000)).toThrow(InvalidArgumentError);
      expect(() => arch.allocatePage(8, MEM_DEFAULT)).toThrow(InvalidArgumentError);
      expect(() => arch.switchDirectory(12345 * arch.pageSize)).toThrow(InvalidArgumentError);
      expect(() => arch.destroyVAS(arch.getKernelDirectory())).toThrow(InvalidArgumentError);
      expect(arch.pageIsPresent(0)).toBe(false);
      arch.allocatePage(0, MEM_DEFAULT); // NULL: nothing
      arch.freePage(0);
      expect(frames.stats().freeFrames).toBe(free);
    });
  });
}
