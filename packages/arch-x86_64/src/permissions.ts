import { Access } from "@ksim/core";
import { PERM_D, PERM_U, PERM_W, PERM_X } from "./tlb.js";

/** The control bits that decide access rights (SDM 4.6). */
export interface PagingControls {
  /** CR0.WP: supervisor writes honour R/W. */
  readonly wp: boolean;
  /** CR4.SMEP: no supervisor instruction fetches from user-mode pages. */
  readonly smep: boolean;
  /** CR4.SMAP: no supervisor data accesses to user-mode pages unless EFLAGS.AC. */
  readonly smap: boolean;
  /** EFER.NXE: XD is honoured. */
  readonly nxe: boolean;
  /** EFLAGS.AC. */
  readonly ac: boolean;
}

/**
 * SDM 4.6: may `access` (Access.Read/Write/Execute) by `user` (CPL 3) or supervisor code use a translation whose
 * combined rights are `perm` (PERM_W: R/W = 1 at every level, PERM_U: U/S = 1 at every level, PERM_X: XD = 0 at every
 * level, PERM_D: the leaf is dirty)? Returns 0 (yes), 1 (page fault) or 2 (allowed, but a write through a clean
 * entry: the walk must set D first).
 */
export function accessRule(c: PagingControls, access: number, user: boolean, perm: number): number {
  const w = (perm & PERM_W) !== 0;
  const u = (perm & PERM_U) !== 0;
  const x = (perm & PERM_X) !== 0 || !c.nxe;
  let ok: boolean;
  if (user) {
    // User accesses need U/S everywhere; writes need R/W everywhere whatever CR0.WP says.
    ok = u && (access === Access.Read || (access === Access.Write ? w : x));
  } else if (access === Access.Execute) {
    ok = x && !(u && c.smep);
  } else {
    const smapBlocks = u && c.smap && !c.ac;
    ok = !smapBlocks && (access === Access.Read || w || !c.wp);
  }
  if (!ok) return 1;
  return access === Access.Write && !(perm & PERM_D) ? 2 : 0;
}

/** Why {@link accessRule} refuses `access`, in words, for fault reasons. */
export function denialReason(c: PagingControls, access: number, user: boolean, perm: number): string {
  const u = (perm & PERM_U) !== 0;
  if (user && !u) return "user-mode access to a supervisor-mode page (U/S = 0 at some level)";
  if (!user && u && access === Access.Execute && c.smep)
    return "SMEP: supervisor instruction fetch from a user-mode page";
  if (!user && u && access !== Access.Execute && c.smap && !c.ac) {
    return "SMAP: supervisor data access to a user-mode page with EFLAGS.AC = 0";
  }
  if (access === Access.Write) {
    return user
      ? "write to a read-only page (R/W = 0 at some level)"
      : "supervisor write to a read-only page with CR0.WP = 1 (R/W = 0 at some level)";
  }
  return "instruction fetch from a no-execute page (XD = 1 at some level)";
}
