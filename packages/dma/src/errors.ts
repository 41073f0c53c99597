import { KsimError } from "@ksim/core";

/**
 * Why a free, unmap or mapping request was refused:
 * - `outside-window`: the address is not in the DMA (or MMIO) window at all;
 * - `not-allocated`: nothing was ever allocated or mapped there;
 * - `double-free`: the buffer or mapping there was released already;
 * - `interior-pointer`: the address points inside a live buffer or mapping, not at what the allocating call returned;
 * - `size-mismatch`: the size does not cover exactly the pages of the buffer or mapping at that address;
 * - `managed-ram`: mem_mapMMIO was asked to map RAM that the frame allocator manages.
 */
export type DmaProblem =
  | "outside-window"
  | "not-allocated"
  | "double-free"
  | "interior-pointer"
  | "size-mismatch"
  | "managed-ram";

/** A DMA or MMIO call named something it cannot act on. It changed nothing. */
export class DmaError extends KsimError {
  /** The address the call was given (virtual for frees and unmaps, physical for `managed-ram`). */
  readonly address: number;
  readonly problem: DmaProblem;
  constructor(problem: DmaProblem, address: number, message: string) {
    super("DMA_ERROR", message);
    this.problem = problem;
    this.address = address;
  }
}
