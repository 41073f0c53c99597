import {
  Access,
  bindMemoryApi,
  InvalidArgumentError,
  KernelPanic,
  MEM_CREATE,
  MEM_DEFAULT,
  MEM_PAGE_FREE,
  MEM_PAGE_KERNEL,
  MEM_PAGE_NO_EXECUTE,
  MEM_PAGE_NOALLOC,
  MEM_PAGE_NOT_CACHEABLE,
  MEM_PAGE_NOT_PRESENT,
  MEM_PAGE_READONLY,
  MEM_PAGE_WRITE_COMBINE,
  MEM_PAGE_WRITETHROUGH,
  MemoryType,
  PageFault,
} from "@ksim/core";
import { describe, expect, test } from "vitest";
import { CR0_PG, CR0_WP, CR4_PGE, EFER_NXE } from "./control.js";
import { KSIM_PAT, packPat } from "./pat.js";
import { PTE_G, PTE_HI_XD, PTE_OWNED, PTE_P, PTE_PCD, PTE_PWT, PTE_RW, PTE_US } from "./pte.js";
import { FailingFrames } from "./testing/failing-frames.js";
import { FlatMemory } from "./testing/flat-memory.js";
import { FreeListFrames } from "./testing/free-list-frames.js";
import { bootTestArch, snapshot } from "./testing/harness.js";
import { X86_64 } from "./x86-64.js";

const GiB = 0x4000_0000;
const USER_V = 0x40_0000;

describe("boot", () => {
  test("paging is on with WP, NXE, PGE, ksim's PAT, and the kernel directory loaded", () => {
    const { arch } = bootTestArch();
    const mmu = arch.mmu;
    expect(mmu.cr0 & CR0_PG).toBeTruthy();
    expect(mmu.cr0 & CR0_WP).toBeTruthy();
    expect(mmu.efer & EFER_NXE).toBeTruthy();
    expect(mmu.cr4 & CR4_PGE).toBeTruthy();
    expect(mmu.pat).toBe(packPat(KSIM_PAT));
    expect(arch.getCurrentDirectory()).toBe(arch.getKernelDirectory());
  });

  test("the HHDM maps all RAM with 1 GiB global, supervisor, no-execute pages", () => {
    const { arch, memory } = bootTestArch();
    const hhdm = arch.layout.hhdm;
    expect(hhdm.base).toBe(0xff80_0000_0000);
    expect(hhdm.size).toBe(GiB);
    memory.write32(0x5_3450, 0xcafe_f00d);
    expect(arch.memory.read32(hhdm.base + 0x5_3450)).toBe(0xcafe_f00d);
    expect(arch.mmu.lastTranslation).toBeDefined();
    expect(arch.mmu.translate(hhdm.base + 0x5_3450, Access.Read, false)).toBe(0x5_3450);
    expect(arch.mmu.lastTranslation).toMatchObject({ pageSize: GiB, global: true, executable: false, user: false });
    expect(arch.mmu.translate(hhdm.base, Access.Read, true)).toBe(-1);
    expect(arch.mmu.infoMem()).toContain("ffffff8000000000-ffffff8040000000 0000000040000000 -rw- WB");
  });

  test("every kernel-half PML4 slot is populated, so address spaces share the kernel half", () => {
    const { arch, memory } = bootTestArch();
    const kernel = arch.getKernelDirectory();
    for (let slot = 256; slot < 512; slot++) expect(memory.read32(kernel + slot * 8) & PTE_P).toBe(PTE_P);
    for (let slot = 0; slot < 256; slot++) expect(memory.read32(kernel + slot * 8)).toBe(0);
  });

  test("the layout windows sit at the original kernel's addresses, in 48-bit linear form", () => {
    const { arch } = bootTestArch();
    const l = arch.layout;
    expect(arch.formatAddress(l.kernel.base)).toBe("0xFFFFF00000000000");
    expect(arch.formatAddress(l.dma.base)).toBe("0xFFFFF80000000000");
    expect(arch.formatAddress(l.heap.base)).toBe("0xFFFFFF0000000000");
    expect(arch.formatAddress(l.hhdm.base)).toBe("0xFFFFFF8000000000");
    expect(arch.formatAddress(l.mmio.base)).toBe("0xFFFFFFF000000000");
    expect(arch.formatAddress(l.driver.base)).toBe("0xFFFFFFFF00000000");
    expect(arch.parseAddress(0xffff_fff0_0000_0000n)).toBe(l.mmio.base);
    expect(() => arch.parseAddress(0x0000_8000_0000_0000n)).toThrow(InvalidArgumentError);
  });

  test("a 1 TiB machine boots at once; its HHDM stops at 448 GiB, below the MMIO window", () => {
    const start = performance.now();
    const { arch } = bootTestArch(16, { hhdmSize: 1024 * GiB });
    expect(performance.now() - start).toBeLessThan(2000);
    expect(arch.layout.hhdm.size).toBe(448 * GiB);
    expect(arch.layout.hhdm.base + arch.layout.hhdm.size).toBe(arch.layout.mmio.base);
    expect(arch.getPhysicalAddress(0, arch.layout.hhdm.base + 447 * GiB + 5)).toBe(447 * GiB + 5);
    expect(() => arch.remapPhys(448 * GiB, 1)).toThrow(/beyond the HHDM/);
  });

  test("boot without enough frames panics OUT_OF_MEMORY and gives every frame back", () => {
    const memory = new FlatMemory(16 << 20);
    const frames = new FailingFrames(new FreeListFrames(1 << 20, 15 << 20));
    const free = frames.stats().freeFrames;
    for (const k of [0, 1, 100, 256]) {
      frames.arm(k);
      expect(() => new X86_64({ memory, frames })).toThrow(/OUT_OF_MEMORY/);
      expect(frames.stats().freeFrames).toBe(free);
    }
    frames.arm(257);
    expect(() => new X86_64({ memory, frames })).not.toThrow();
  });
});

describe("the page macros", () => {
  test("MEM_ALIGN_PAGE rounds up and leaves an aligned address alone; DESTRUCTIVE rounds down", () => {
    const { arch } = bootTestArch();
    const api = bindMemoryApi(arch);
    expect(api.MEM_ALIGN_PAGE(0x2000)).toBe(0x2000);
    expect(api.MEM_ALIGN_PAGE(0x2001)).toBe(0x3000);
    expect(api.MEM_ALIGN_PAGE(0)).toBe(0);
    expect(api.MEM_ALIGN_PAGE_DESTRUCTIVE(0x2fff)).toBe(0x2000);
    expect(api.MEM_ALIGN_PAGE(2 ** 40 + 1)).toBe(2 ** 40 + 0x1000);
    for (const bad of [-1, 0.5, Number.NaN]) expect(() => api.MEM_ALIGN_PAGE(bad)).toThrow(InvalidArgumentError);
  });

  test("getters read the entry; NULL reads false; setters keep the TLB coherent", () => {
    const { arch } = bootTestArch();
    const api = bindMemoryApi(arch);
    expect(api.PAGE_IS_PRESENT(0)).toBe(false);
    expect(api.PAGE_IS_WRITABLE(0)).toBe(false);
    const page = api.mem_getPage(null, USER_V, MEM_CREATE);
    api.mem_allocatePage(page, MEM_DEFAULT);
    expect(api.PAGE_IS_PRESENT(page)).toBe(true);
    expect(api.PAGE_IS_WRITABLE(page)).toBe(true);
    expect(api.PAGE_IS_USERMODE(page)).toBe(true);
    expect(api.PAGE_IS_DIRTY(page)).toBe(false);
    arch.memory.write8(USER_V, 1);
    expect(api.PAGE_IS_DIRTY(page)).toBe(true);
    expect(api.PAGE_IS_COW(page)).toBe(false);
    api.PAGE_COW(page, true);
    expect(api.PAGE_IS_COW(page)).toBe(true);
    expect(api.PAGE_COW(page)).toBe(true);
    const frame = api.MEM_GET_FRAME(page);
    expect(api.PAGE_FRAME_RAW(page)).toBe(frame / 0x1000);
    api.PAGE_PRESENT(page, false);
    expect(arch.mmu.translate(USER_V, Access.Read, false)).toBe(-1);
    api.PAGE_PRESENT(page, true);
    api.MEM_SET_FRAME(page, 0x5000);
    expect(arch.mmu.translate(USER_V + 4, Access.Read, false)).toBe(0x5004);
    api.PAGE_FRAME_RAW(page, 0x6);
    expect(arch.mmu.translate(USER_V + 4, Access.Read, false)).toBe(0x6004);
  });

  test("a NULL, misaligned or foreign page reference is refused by name and changes nothing", () => {
    const { arch, frames, memory } = bootTestArch();
    const page = arch.getPage(0, USER_V, MEM_CREATE);
    const before = snapshot(arch, frames, memory);
    expect(() => arch.pagePresent(0, true)).toThrow(/NULL/);
    expect(() => arch.getFrame(page + 3)).toThrow(/not 8-byte aligned/);
    expect(() => arch.allocatePage(0x9000, MEM_DEFAULT)).toThrow(/not an entry of this kernel's page tables/);
    expect(() => arch.setFrame(arch.getKernelDirectory(), 0x1000)).toThrow(/level-4 table/);
    expect(() => arch.freePage(-8)).toThrow(InvalidArgumentError);
    expect(() => arch.setFrame(page, 0x1001)).toThrow(/not aligned/);
    expect(() => arch.setFrame(page, 2 ** 46)).toThrow(/MAXPHYADDR/);
    expect(() => arch.pageFrameRaw(page, 2 ** 40)).toThrow(InvalidArgumentError);
    expect(snapshot(arch, frames, memory)).toBe(before);
  });
});

describe("mem_getPage", () => {
  test("only MEM_CREATE creates tables; MEM_DEFAULT returns 0 for a missing table", () => {
    const { arch, frames } = bootTestArch();
    const free = frames.stats().freeFrames;
    expect(arch.getPage(0, USER_V, MEM_DEFAULT)).toBe(0);
    expect(frames.stats().freeFrames).toBe(free);
    const page = arch.getPage(0, USER_V + 0x123, MEM_CREATE);
    expect(page).not.toBe(0);
    expect(frames.stats().freeFrames).toBe(free - 3); // PDPT, PD, PT
    expect(arch.getPage(0, USER_V, MEM_DEFAULT)).toBe(page);
    expect(arch.getPage(0, USER_V + 0x1000, MEM_DEFAULT)).toBe(page + 8);
    expect(arch.pageIsPresent(page)).toBe(false);
  });

  test("an address mapped by a large page (the HHDM) has no page_t without MEM_CREATE", () => {
    const { arch } = bootTestArch();
    expect(arch.getPage(0, arch.layout.hhdm.base + 0x5000, MEM_DEFAULT)).toBe(0);
  });

  test("kernel-half tables created in one address space are seen by all", () => {
    const { arch } = bootTestArch();
    const vas = arch.createVAS();
    const heap = arch.layout.heap.base;
    const page = arch.getPage(vas, heap, MEM_CREATE);
    arch.allocatePage(page, MEM_PAGE_KERNEL);
    expect(arch.getPage(0, heap, MEM_DEFAULT)).toBe(page);
    arch.memory.write32(heap, 42);
    arch.switchDirectory(vas);
    expect(arch.memory.read32(heap)).toBe(42);
  });

  test("bad arguments are refused: unknown flags, non-canonical or fractional addresses, unknown directories", () => {
    const { arch, frames, memory } = bootTestArch();
    const before = snapshot(arch, frames, memory);
    expect(() => arch.getPage(0, USER_V, 0x2)).toThrow(/unknown flag bits 0x2/);
    expect(() => arch.getPage(0, 2 ** 48, MEM_CREATE)).toThrow(/48-bit/);
    expect(() => arch.getPage(0, 1.5, MEM_CREATE)).toThrow(/not an integer/);
    expect(() => arch.getPage(0, Number.NaN, MEM_CREATE)).toThrow(/not a number/);
    expect(() => arch.getPage(0x7000, USER_V, MEM_CREATE)).toThrow(/not a page directory/);
    expect(snapshot(arch, frames, memory)).toBe(before);
  });
});

describe("mem_allocatePage", () => {
  function allocated(flags: number) {
    const rig = bootTestArch();
    const page = rig.arch.getPage(0, USER_V, MEM_CREATE);
    rig.arch.allocatePage(page, flags);
    return { ...rig, page, lo: rig.memory.read32(page), hi: rig.memory.read32(page + 4) };
  }

  test("MEM_DEFAULT is a present, writable, executable user page with a fresh zeroed frame it owns", () => {
    const { arch, lo, hi, page, memory } = allocated(MEM_DEFAULT);
    expect(lo & (PTE_P | PTE_RW | PTE_US | PTE_OWNED)).toBe(PTE_P | PTE_RW | PTE_US | PTE_OWNED);
    expect(hi & PTE_HI_XD).toBe(0);
    const frame = arch.getFrame(page);
    const bytes = new Uint8Array(4096);
    memory.read(frame, bytes);
    expect(bytes.every((b) => b === 0)).toBe(true);
    for (const access of [Access.Read, Access.Write, Access.Execute]) {
      expect(arch.mmu.translate(USER_V, access, true)).toBe(frame);
    }
  });

  test("each flag turns its switch off at the original's value", () => {
    expect(allocated(MEM_PAGE_KERNEL).lo & PTE_US).toBe(0);
    expect(allocated(MEM_PAGE_READONLY).lo & PTE_RW).toBe(0);
    expect(allocated(MEM_PAGE_NOT_PRESENT).lo & PTE_P).toBe(0);
    expect((allocated(MEM_PAGE_NO_EXECUTE).hi & PTE_HI_XD) !== 0).toBe(true);
    const ro = allocated(MEM_PAGE_READONLY | MEM_PAGE_KERNEL);
    expect(ro.arch.mmu.translate(USER_V, Access.Write, false)).toBe(-1);
    expect(ro.arch.mmu.lastFault.errorCode).toBe(0x3);
  });

  test("cache flags select WT, UC and WC through the PAT; NOT_CACHEABLE wins over the others", () => {
    const type = (flags: number) => {
      const { arch } = allocated(flags);
      arch.mmu.translate(USER_V, Access.Read, false);
      return arch.mmu.lastTranslation.memoryType;
    };
    expect(type(MEM_DEFAULT)).toBe(MemoryType.WB);
    expect(type(MEM_PAGE_WRITETHROUGH)).toBe(MemoryType.WT);
    expect(type(MEM_PAGE_NOT_CACHEABLE)).toBe(MemoryType.UC);
    expect(type(MEM_PAGE_WRITE_COMBINE)).toBe(MemoryType.WC);
    expect(type(MEM_PAGE_WRITE_COMBINE | MEM_PAGE_NOT_CACHEABLE)).toBe(MemoryType.UC);
    expect(type(MEM_PAGE_WRITE_COMBINE | MEM_PAGE_WRITETHROUGH)).toBe(MemoryType.WC);
  });

  test("WRITE_COMBINE and NO_EXECUTE are cleared when a later call does not ask for them", () => {
    const { arch, page, memory } = allocated(MEM_PAGE_WRITE_COMBINE | MEM_PAGE_NO_EXECUTE);
    arch.allocatePage(page, MEM_PAGE_NOALLOC);
    expect(memory.read32(page) & (0x80 | PTE_PCD | PTE_PWT)).toBe(0);
    expect((memory.read32(page + 4) & PTE_HI_XD) !== 0).toBe(false);
    arch.mmu.translate(USER_V, Access.Execute, true);
    expect(arch.mmu.lastTranslation.memoryType).toBe(MemoryType.WB);
  });

  test("MEM_PAGE_NOALLOC changes protection only and keeps the frame", () => {
    const { arch, page, frames } = allocated(MEM_DEFAULT);
    const frame = arch.getFrame(page);
    const free = frames.stats().freeFrames;
    arch.memory.write32(USER_V, 7);
    arch.allocatePage(page, MEM_PAGE_NOALLOC | MEM_PAGE_READONLY);
    expect(arch.getFrame(page)).toBe(frame);
    expect(frames.stats().freeFrames).toBe(free);
    expect(() => arch.memory.write32(USER_V, 8)).toThrow(PageFault); // the TLB saw the change
    expect(arch.memory.read32(USER_V)).toBe(7);
  });

  test("allocating again releases the frame the page owned (the original leaked it)", () => {
    const { arch, page, frames } = allocated(MEM_DEFAULT);
    const free = frames.stats().freeFrames;
    const old = arch.getFrame(page);
    arch.allocatePage(page, MEM_DEFAULT);
    expect(arch.getFrame(page)).not.toBe(old);
    expect(frames.stats().freeFrames).toBe(free);
    expect(frames.refCount(old)).toBe(0);
  });

  test("MEM_PAGE_FREE frees the page; NULL is a no-op; unknown flags are refused", () => {
    const { arch, page, frames } = allocated(MEM_DEFAULT);
    const free = frames.stats().freeFrames;
    arch.allocatePage(page, MEM_PAGE_FREE);
    expect(arch.pageIsPresent(page)).toBe(false);
    expect(frames.stats().freeFrames).toBe(free + 1);
    arch.allocatePage(0, MEM_DEFAULT);
    expect(frames.stats().freeFrames).toBe(free + 1);
    expect(() => arch.allocatePage(page, 0x400)).toThrow(/unknown flag bits 0x400/);
    expect(() => arch.allocatePage(page, MEM_CREATE)).toThrow(/unknown flag bits 0x1/);
  });

  test("out of frames: KernelPanic(OUT_OF_MEMORY) and the page is unchanged", () => {
    const { arch, page, frames, memory } = allocated(MEM_DEFAULT);
    const before = snapshot(arch, frames, memory);
    frames.arm(0);
    expect(() => arch.allocatePage(page, MEM_DEFAULT)).toThrow(KernelPanic);
    frames.arm(-1);
    expect(snapshot(arch, frames, memory)).toBe(before);
    try {
      frames.arm(0);
      arch.allocatePage(page, MEM_DEFAULT);
    } catch (error) {
      expect((error as KernelPanic).stopName).toBe("OUT_OF_MEMORY");
    }
  });
});

describe("mem_freePage", () => {
  test("unmaps, releases a managed frame, and keeps the TLB coherent", () => {
    const { arch, frames } = bootTestArch();
    const page = arch.getPage(0, USER_V, MEM_CREATE);
    arch.allocatePage(page, MEM_DEFAULT);
    arch.memory.write32(USER_V, 1);
    const free = frames.stats().freeFrames;
    arch.freePage(page);
    expect(frames.stats().freeFrames).toBe(free + 1);
    expect(() => arch.memory.read32(USER_V)).toThrow(PageFault);
    expect(arch.getPhysicalAddress(0, USER_V)).toBe(0);
  });

  test("freeing a page that maps device memory leaves the frame allocator alone", () => {
    const { arch, frames } = bootTestArch();
    const mmio = arch.layout.mmio.base;
    arch.mapAddress(0, 0xfebf_0000, mmio, MEM_PAGE_KERNEL | MEM_PAGE_NOT_CACHEABLE);
    const free = frames.stats().freeFrames;
    arch.freePage(arch.getPage(0, mmio, MEM_DEFAULT));
    expect(frames.stats().freeFrames).toBe(free);
  });

  test("freeing a page twice does not free its old frame twice", () => {
    const { arch, frames } = bootTestArch();
    const page = arch.getPage(0, USER_V, MEM_CREATE);
    arch.allocatePage(page, MEM_DEFAULT);
    arch.freePage(page);
    const free = frames.stats().freeFrames;
    arch.freePage(page);
    expect(frames.stats().freeFrames).toBe(free);
  });
});

describe("mem_mapAddress and mem_getPhysicalAddress", () => {
  test("maps phys at virt with the flags, in any directory; the frame stays the caller's", () => {
    const { arch, frames } = bootTestArch();
    arch.mapAddress(0, 0x8_0000, USER_V, MEM_PAGE_READONLY);
    expect(arch.getPhysicalAddress(0, USER_V + 0x10)).toBe(0x8_0010);
    expect(arch.mmu.translate(USER_V, Access.Read, true)).toBe(0x8_0000); // flags 0: a user mapping
    expect(arch.mmu.translate(USER_V, Access.Write, true)).toBe(-1);
    const page = arch.getPage(0, USER_V, MEM_DEFAULT);
    expect(arch.tables.lo(page) & PTE_OWNED).toBe(0);
    const free = frames.stats().freeFrames;
    arch.mapAddress(0, 0x9_0000, USER_V, MEM_DEFAULT); // remap: TLB coherent
    expect(arch.mmu.translate(USER_V, Access.Write, true)).toBe(0x9_0000);
    expect(frames.stats().freeFrames).toBe(free);
  });

  test("getPhysicalAddress returns 0 for a non-present page whose table exists (the original returned the offset)", () => {
    const { arch } = bootTestArch();
    arch.getPage(0, USER_V, MEM_CREATE);
    expect(arch.getPhysicalAddress(0, USER_V + 0x44)).toBe(0);
    expect(arch.getPhysicalAddress(0, 0x7000_0000_0000)).toBe(0);
  });

  test("misaligned, out-of-range or non-canonical arguments and MEM_PAGE_FREE are refused, changing nothing", () => {
    const { arch, frames, memory } = bootTestArch();
    const before = snapshot(arch, frames, memory);
    expect(() => arch.mapAddress(0, 0x1001, USER_V, 0)).toThrow(/phys = 4097: not aligned/);
    expect(() => arch.mapAddress(0, 0x1000, USER_V + 1, 0)).toThrow(/not aligned/);
    expect(() => arch.mapAddress(0, 2 ** 46, USER_V, 0)).toThrow(/MAXPHYADDR/);
    expect(() => arch.mapAddress(0, 2 ** 52, USER_V, 0)).toThrow(InvalidArgumentError);
    expect(() => arch.mapAddress(0, 0x1000, 2 ** 48, 0)).toThrow(/48-bit/);
    expect(() => arch.mapAddress(0, 0x1000, USER_V, MEM_PAGE_FREE)).toThrow(/unknown flag bits 0x80/);
    expect(() => arch.mapAddress(0, -4096, USER_V, 0)).toThrow(/negative/);
    expect(snapshot(arch, frames, memory)).toBe(before);
  });

  test("an owned frame replaced by mem_mapAddress is released", () => {
    const { arch, frames } = bootTestArch();
    const page = arch.getPage(0, USER_V, MEM_CREATE);
    arch.allocatePage(page, MEM_DEFAULT);
    const free = frames.stats().freeFrames;
    arch.mapAddress(0, 0x8_0000, USER_V, MEM_DEFAULT);
    expect(frames.stats().freeFrames).toBe(free + 1);
  });
});

describe("mem_remapPhys / mem_unmapPhys", () => {
  test("the HHDM address is base + phys, and reads through it reach physical memory", () => {
    const { arch, memory } = bootTestArch();
    const virt = arch.remapPhys(0x7_0000, 0x2000);
    expect(virt).toBe(arch.layout.hhdm.base + 0x7_0000);
    memory.write32(0x7_1ffc, 99);
    expect(arch.memory.read32(virt + 0x1ffc)).toBe(99);
    arch.unmapPhys(virt, 0x2000);
    expect(() => arch.unmapPhys(USER_V, 0x1000)).toThrow(/not an HHDM address/);
    expect(() => arch.remapPhys(GiB - 0x1000, 0x2000)).toThrow(/beyond the HHDM/);
    expect(() => arch.remapPhys(Number.NaN, 1)).toThrow(InvalidArgumentError);
  });
});

describe("address spaces", () => {
  test("mem_createVAS shares the kernel half and starts with an empty user half", () => {
    const { arch, memory } = bootTestArch();
    const vas = arch.createVAS();
    for (let slot = 0; slot < 512; slot++) {
      const expected = slot < 256 ? 0 : memory.read32(arch.getKernelDirectory() + slot * 8);
      expect(memory.read32(vas + slot * 8)).toBe(expected);
    }
  });

  test("mem_clone copies owned user pages (contents and flags), shares the kernel half and foreign mappings", () => {
    const { arch } = bootTestArch();
    const api = bindMemoryApi(arch);
    const page = api.mem_getPage(null, USER_V, MEM_CREATE);
    api.mem_allocatePage(page, MEM_PAGE_READONLY);
    api.PAGE_COW(page, true);
    arch.mapAddress(0, 0xfebf_0000, USER_V + 0x1000, MEM_DEFAULT); // device memory: shared
    arch.allocatePage(page, MEM_PAGE_NOALLOC); // writable for the next write
    arch.memory.write32(USER_V, 0x1111);
    arch.allocatePage(page, MEM_PAGE_NOALLOC | MEM_PAGE_READONLY);
    const clone = api.mem_clone(null);
    expect(clone).not.toBe(0);
    const copy = api.mem_getPage(clone, USER_V, MEM_DEFAULT);
    expect(copy).not.toBe(page);
    expect(api.MEM_GET_FRAME(copy)).not.toBe(api.MEM_GET_FRAME(page));
    expect(api.PAGE_IS_WRITABLE(copy)).toBe(false);
    expect(api.PAGE_IS_COW(copy)).toBe(true);
    expect(arch.getPhysicalAddress(clone, USER_V + 0x1000)).toBe(0xfebf_0000);
    arch.switchDirectory(clone);
    expect(arch.memory.read32(USER_V)).toBe(0x1111);
    arch.allocatePage(copy, MEM_PAGE_NOALLOC);
    arch.memory.write32(USER_V, 0x2222);
    arch.switchDirectory(0);
    expect(arch.memory.read32(USER_V)).toBe(0x1111);
  });

  test("mem_destroyVAS frees every table and owned frame: create, fill, clone, destroy leaks nothing", () => {
    const { arch, frames } = bootTestArch();
    const free = frames.stats().freeFrames;
    const vas = arch.createVAS();
    for (let i = 0; i < 20; i++) {
      const virt = USER_V + i * 0x20_1000; // spread over several page tables
      arch.allocatePage(arch.getPage(vas, virt, MEM_CREATE), MEM_DEFAULT);
    }
    arch.mapAddress(vas, 0x8_0000, 0x1000, MEM_DEFAULT);
    const clone = arch.cloneVAS(vas);
    arch.destroyVAS(vas);
    arch.destroyVAS(clone);
    expect(frames.stats().freeFrames).toBe(free);
  });

  test("switching loads CR3 and flushes the old space's translations; 0 means the kernel directory", () => {
    const { arch } = bootTestArch();
    const api = bindMemoryApi(arch);
    const a = arch.createVAS();
    const b = arch.createVAS();
    arch.mapAddress(a, 0x8_0000, USER_V, MEM_DEFAULT);
    arch.mapAddress(b, 0x9_0000, USER_V, MEM_DEFAULT);
    expect(api.mem_switchDirectory(a)).toBe(0);
    expect(arch.mmu.translate(USER_V, Access.Read, false)).toBe(0x8_0000);
    arch.switchDirectory(b);
    expect(api.mem_getCurrentDirectory()).toBe(b);
    expect(arch.mmu.translate(USER_V, Access.Read, false)).toBe(0x9_0000);
    api.mem_switchDirectory(null);
    expect(api.mem_getCurrentDirectory()).toBe(api.mem_getKernelDirectory());
    expect(arch.mmu.translate(USER_V, Access.Read, false)).toBe(-1);
  });

  test("destroying the kernel, the current or an unknown directory is refused", () => {
    const { arch } = bootTestArch();
    const vas = arch.createVAS();
    arch.switchDirectory(vas);
    expect(() => arch.destroyVAS(vas)).toThrow(/current directory/);
    expect(() => arch.destroyVAS(arch.getKernelDirectory())).toThrow(/kernel directory/);
    expect(() => arch.destroyVAS(0x3000)).toThrow(/not a page directory/);
    expect(() => arch.destroyVAS(0)).toThrow(InvalidArgumentError);
    expect(() => arch.switchDirectory(0x3000)).toThrow(/not a page directory/);
    arch.switchDirectory(0);
    arch.destroyVAS(vas);
    expect(() => arch.switchDirectory(vas)).toThrow(/not a page directory/);
  });
});

describe("the TLB stays coherent through every mapping call", () => {
  test("map, read, remap, protect, free: each translation seen afterwards is the new one", () => {
    const { arch } = bootTestArch();
    const vm = arch.memory;
    const heap = arch.layout.heap.base;
    arch.mapAddress(0, 0x8_0000, heap, MEM_PAGE_KERNEL);
    vm.write32(heap, 5);
    arch.mapAddress(0, 0x9_0000, heap, MEM_PAGE_KERNEL);
    expect(vm.read32(heap)).toBe(0);
    const page = arch.getPage(0, heap, MEM_DEFAULT);
    arch.allocatePage(page, MEM_PAGE_NOALLOC | MEM_PAGE_KERNEL | MEM_PAGE_READONLY);
    expect(() => vm.write32(heap, 1)).toThrow(PageFault);
    arch.pagePresent(page, false);
    expect(() => vm.read32(heap)).toThrow(PageFault);
    arch.pagePresent(page, true);
    arch.setFrame(page, 0x8_0000);
    expect(vm.read32(heap)).toBe(5);
    arch.freePage(page);
    expect(() => vm.read32(heap)).toThrow(PageFault);
  });

  test("raw PTE edits (the hardware interface) do leave stale entries until mem_invalidatePage", () => {
    const { arch, memory } = bootTestArch();
    const heap = arch.layout.heap.base;
    arch.mapAddress(0, 0x8_0000, heap, MEM_PAGE_KERNEL);
    memory.write32(0x8_0000, 1);
    memory.write32(0x9_0000, 2);
    expect(arch.memory.read32(heap)).toBe(1);
    const page = arch.getPage(0, heap, MEM_DEFAULT);
    memory.write32(page, (memory.read32(page) & 0xfff) | 0x9_0000);
    expect(arch.memory.read32(heap)).toBe(1);
    arch.invalidatePage(heap);
    expect(arch.memory.read32(heap)).toBe(2);
  });

  test("global kernel mappings survive an address-space switch in the TLB", () => {
    const { arch, memory } = bootTestArch();
    const vas = arch.createVAS();
    const hhdm = arch.layout.hhdm.base;
    arch.memory.read32(hhdm);
    const pdpt = memory.read32(arch.getKernelDirectory() + 511 * 8) & ~0xfff;
    const lo = memory.read32(pdpt);
    memory.write32(pdpt, lo & ~PTE_P); // raw: unmapped in memory, still cached (global)
    arch.switchDirectory(vas);
    expect(arch.mmu.translate(hhdm + 8, Access.Read, false)).toBe(8);
    expect(arch.mmu.lastTranslation.global).toBe(true);
    memory.write32(pdpt, lo);
    expect(lo & PTE_G).toBe(PTE_G);
  });
});
