import type { PhysAddr, VirtAddr } from "./address.js";
import type { Arch, PageDirectory, PageRef } from "./arch.js";

/**
 * The seed's VMM calls under their C names, as a driver sees them. `null` stands for C's NULL where the seed lets a
 * directory default to the current one.
 */
export interface MemoryApi {
  MEM_ALIGN_PAGE(address: number): number;
  MEM_ALIGN_PAGE_DESTRUCTIVE(address: number): number;
  PAGE_IS_PRESENT(page: PageRef): boolean;
  PAGE_IS_WRITABLE(page: PageRef): boolean;
  PAGE_IS_USERMODE(page: PageRef): boolean;
  PAGE_IS_COW(page: PageRef): boolean;
  PAGE_IS_DIRTY(page: PageRef): boolean;
  PAGE_PRESENT(page: PageRef, value?: boolean): boolean;
  PAGE_COW(page: PageRef, value?: boolean): boolean;
  PAGE_FRAME_RAW(page: PageRef, value?: number): number;
  MEM_SET_FRAME(page: PageRef, frame: PhysAddr): void;
  MEM_GET_FRAME(page: PageRef): PhysAddr;
  mem_getPage(dir: PageDirectory | null, virt: VirtAddr, flags: number): PageRef;
  mem_allocatePage(page: PageRef, flags: number): void;
  mem_freePage(page: PageRef): void;
  mem_mapAddress(dir: PageDirectory | null, phys: PhysAddr, virt: VirtAddr, flags: number): void;
  mem_getPhysicalAddress(dir: PageDirectory | null, virt: VirtAddr): PhysAddr;
  mem_remapPhys(phys: PhysAddr, size: number): VirtAddr;
  mem_unmapPhys(virt: VirtAddr, size: number): void;
  mem_invalidatePage(virt: VirtAddr): void;
  mem_createVAS(): PageDirectory;
  mem_clone(dir: PageDirectory | null): PageDirectory;
  mem_switchDirectory(dir: PageDirectory | null): number;
  mem_getCurrentDirectory(): PageDirectory;
  mem_getKernelDirectory(): PageDirectory;
  mem_destroyVAS(dir: PageDirectory): void;
}

/** The C-named facade over any {@link Arch}: pure forwarding, so the seed's code reads line for line. */
export function bindMemoryApi(arch: Arch): MemoryApi {
  return {
    MEM_ALIGN_PAGE: (a) => arch.alignPage(a),
    MEM_ALIGN_PAGE_DESTRUCTIVE: (a) => arch.alignPageDown(a),
    PAGE_IS_PRESENT: (p) => arch.pageIsPresent(p),
    PAGE_IS_WRITABLE: (p) => arch.pageIsWritable(p),
    PAGE_IS_USERMODE: (p) => arch.pageIsUsermode(p),
    PAGE_IS_COW: (p) => arch.pageIsCow(p),
    PAGE_IS_DIRTY: (p) => arch.pageIsDirty(p),
    PAGE_PRESENT: (p, v) => arch.pagePresent(p, v),
    PAGE_COW: (p, v) => arch.pageCow(p, v),
    PAGE_FRAME_RAW: (p, v) => arch.pageFrameRaw(p, v),
    MEM_SET_FRAME: (p, f) => arch.setFrame(p, f),
    MEM_GET_FRAME: (p) => arch.getFrame(p),
    mem_getPage: (d, v, f) => arch.getPage(d ?? 0, v, f),
    mem_allocatePage: (p, f) => arch.allocatePage(p, f),
    mem_freePage: (p) => arch.freePage(p),
    mem_mapAddress: (d, p, v, f) => arch.mapAddress(d ?? 0, p, v, f),
    mem_getPhysicalAddress: (d, v) => arch.getPhysicalAddress(d ?? 0, v),
    mem_remapPhys: (p, s) => arch.remapPhys(p, s),
    mem_unmapPhys: (v, s) => arch.unmapPhys(v, s),
    mem_invalidatePage: (v) => arch.invalidatePage(v),
    mem_createVAS: () => arch.createVAS(),
    mem_clone: (d) => arch.cloneVAS(d ?? 0),
    mem_switchDirectory: (d) => {
      arch.switchDirectory(d ?? 0);
      return 0;
    },
    mem_getCurrentDirectory: () => arch.getCurrentDirectory(),
    mem_getKernelDirectory: () => arch.getKernelDirectory(),
    mem_destroyVAS: (d) => arch.destroyVAS(d),
  };
}
