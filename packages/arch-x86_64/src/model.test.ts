import {
  Access,
  type AccessKind,
  MEM_CREATE,
  MEM_DEFAULT,
  MEM_PAGE_KERNEL,
  MEM_PAGE_NO_EXECUTE,
  MEM_PAGE_READONLY,
  PageFault,
} from "@ksim/core";
import fc from "fast-check";
import { expect, test } from "vitest";
import { bootTestArch } from "./testing/harness.js";

// The page tables held against a Map-based model: each address space is a Map from page number to what the page
// should do. Random map / allocate / unmap / protect / clone / switch / destroy, with every page checked for every
// access after each step (through the MMU and its TLB, so a missed invalidation shows up as a mismatch).

interface Page {
  /** Physical frame for foreign mappings; for owned pages the tag written in it. */
  readonly phys: number;
  readonly owned: boolean;
  readonly writable: boolean;
  readonly user: boolean;
  readonly executable: boolean;
}
type Space = Map<number, Page>;

const VPNS = [0x400, 0x401, 0x5ff, 0x600, 0x4_0000, 0x7_ffff_ffff];
const flagsArb = fc.record({ kernel: fc.boolean(), readonly: fc.boolean(), nx: fc.boolean() });
const op = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("map" as const),
      vpn: fc.constantFrom(...VPNS),
      frame: fc.nat(15),
      f: flagsArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("alloc" as const), vpn: fc.constantFrom(...VPNS), f: flagsArb }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("unmap" as const), vpn: fc.constantFrom(...VPNS) }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("protect" as const), vpn: fc.constantFrom(...VPNS), f: flagsArb }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("clone" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("switch" as const), to: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("destroy" as const), which: fc.nat(7) }) },
);

function flagsOf(f: { kernel: boolean; readonly: boolean; nx: boolean }): number {
  return (f.kernel ? MEM_PAGE_KERNEL : 0) | (f.readonly ? MEM_PAGE_READONLY : 0) | (f.nx ? MEM_PAGE_NO_EXECUTE : 0);
}

test("page tables, TLB and address spaces agree with a Map model over random operations", () => {
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => {
      const { arch, frames, memory } = bootTestArch();
      const free = frames.stats().freeFrames;
      const spaces = new Map<number, Space>();
      let current = arch.createVAS();
      spaces.set(current, new Map());
      arch.switchDirectory(current);
      let tag = 1;

      const check = () => {
        const model = spaces.get(current)!;
        for (const vpn of VPNS) {
          const page = model.get(vpn);
          const virt = vpn * 0x1000 + 0x10;
          for (const access of [Access.Read, Access.Write, Access.Execute] as AccessKind[]) {
            for (const user of [false, true]) {
              const phys = arch.mmu.translate(virt, access, user);
              const allowed =
                page !== undefined &&
                (!user || page.user) &&
                (access !== Access.Write || page.writable) &&
                (access !== Access.Execute || page.executable);
              if (!allowed) {
                expect(phys, `vpn ${vpn.toString(16)} access ${access} user ${user}`).toBe(-1);
              } else if (page.owned) {
                expect(memory.read32(phys - 0x10)).toBe(page.phys);
              } else {
                expect(phys).toBe(page.phys + 0x10);
              }
            }
          }
          // The same through VirtualMemory, twice per access so the second one takes the L1's fast tiers: what
          // the TLB serves from a direct view must agree with the tables after every change.
          for (const user of [false, true]) {
            const vm = user ? arch.userMemory : arch.memory;
            const readable = page !== undefined && (!user || page.user);
            const writable = readable && page.writable;
            for (let k = 0; k < 2; k++) {
              if (readable) expect(vm.read32(virt)).toBe(memory.read32(arch.mmu.translate(virt, Access.Read, user)));
              else expect(() => vm.read32(virt), `read vpn ${vpn.toString(16)} user ${user}`).toThrow(PageFault);
              if (writable) {
                vm.write32(virt + 4, tag + k);
                expect(memory.read32(arch.mmu.translate(virt + 4, Access.Read, user))).toBe(
                  page.owned ? tag + k : 0xffff_ffff, // mapped frames here lie in the unbacked PCI hole
                );
              } else {
                expect(() => vm.write32(virt + 4, 1), `write vpn ${vpn.toString(16)} user ${user}`).toThrow(PageFault);
              }
            }
          }
          // End on an allowed access, so the translation is cached and a missed invalidation shows next time.
          arch.mmu.translate(virt, Access.Read, false);
        }
      };

      for (const o of ops) {
        const model = spaces.get(current)!;
        switch (o.kind) {
          case "map": {
            const phys = 0xf000_0000 + o.frame * 0x1000;
            arch.mapAddress(0, phys, o.vpn * 0x1000, flagsOf(o.f));
            model.set(o.vpn, { phys, owned: false, writable: !o.f.readonly, user: !o.f.kernel, executable: !o.f.nx });
            break;
          }
          case "alloc": {
            const page = arch.getPage(0, o.vpn * 0x1000, MEM_CREATE);
            arch.allocatePage(page, flagsOf(o.f));
            memory.write32(arch.getFrame(page), tag);
            model.set(o.vpn, {
              phys: tag++,
              owned: true,
              writable: !o.f.readonly,
              user: !o.f.kernel,
              executable: !o.f.nx,
            });
            break;
          }
          case "unmap":
            arch.memory.unmap(o.vpn * 0x1000, 0x1000);
            model.delete(o.vpn);
            break;
          case "protect": {
            const page = model.get(o.vpn);
            const protection = { writable: !o.f.readonly, user: !o.f.kernel, executable: !o.f.nx };
            if (page === undefined) {
              expect(() => arch.memory.protect(o.vpn * 0x1000, 0x1000, protection)).toThrow(/not mapped/);
            } else {
              arch.memory.protect(o.vpn * 0x1000, 0x1000, protection);
              model.set(o.vpn, { ...page, ...protection });
            }
            break;
          }
          case "clone": {
            const copy = arch.cloneVAS(0);
            expect(copy).not.toBe(0);
            spaces.set(copy, new Map(model));
            break;
          }
          case "switch": {
            const list = [...spaces.keys()];
            current = list[o.to % list.length]!;
            arch.switchDirectory(current);
            break;
          }
          case "destroy": {
            const list = [...spaces.keys()].filter((d) => d !== current);
            if (list.length === 0) break;
            const victim = list[o.which % list.length]!;
            arch.destroyVAS(victim);
            spaces.delete(victim);
            break;
          }
        }
        check();
      }

      arch.switchDirectory(0);
      for (const dir of spaces.keys()) arch.destroyVAS(dir);
      expect(frames.stats().freeFrames).toBe(free);
    }),
    {
      numRuns: 80,
      examples: [
        [
          [
            { kind: "map", vpn: 0x400, frame: 1, f: { kernel: false, readonly: false, nx: false } },
            { kind: "unmap", vpn: 0x400 },
          ],
        ],
      ],
    },
  );
});

test("a clone's owned pages are private copies: writes on either side stay on that side", () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.constantFrom(...VPNS), { minLength: 1, maxLength: 6 }), (vpns) => {
      const { arch } = bootTestArch();
      const parent = arch.createVAS();
      arch.switchDirectory(parent);
      for (const vpn of vpns) arch.allocatePage(arch.getPage(0, vpn * 0x1000, MEM_CREATE), MEM_DEFAULT);
      const mark = (vpn: number) => (vpn % 65521) + 1;
      for (const vpn of vpns) arch.memory.write32(vpn * 0x1000, mark(vpn));
      const child = arch.cloneVAS(0);
      arch.switchDirectory(child);
      for (const vpn of vpns) {
        expect(arch.memory.read32(vpn * 0x1000)).toBe(mark(vpn));
        arch.memory.write32(vpn * 0x1000, 0xdead);
      }
      arch.switchDirectory(parent);
      for (const vpn of vpns) expect(arch.memory.read32(vpn * 0x1000)).toBe(mark(vpn));
    }),
    { numRuns: 30 },
  );
});
