/**
 * Who a resource belongs to: 0 is the kernel itself; the driver loader hands each loaded driver its own id and
 * tags what the driver allocates (heap blocks, DMA buffers, MMIO mappings, IRQs) so it can be listed and released.
 */
export type OwnerId = number;

export const KERNEL_OWNER: OwnerId = 0;

/** Tells a service which owner the code running now belongs to. The loader sets it around driver calls. */
export interface OwnerContext {
  current(): OwnerId;
  /** A readable name for reports ("kernel", "Example Driver (example.sys)"). */
  nameOf(owner: OwnerId): string;
}

/** The context with nothing but the kernel. */
export const kernelOnlyOwners: OwnerContext = {
  current: () => KERNEL_OWNER,
  nameOf: (owner) => (owner === KERNEL_OWNER ? "kernel" : `owner ${owner}`),
};
