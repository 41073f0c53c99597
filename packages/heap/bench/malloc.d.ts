// Types for the `malloc` npm package (1.1), which ships none: the calls the benchmark uses.
declare module "malloc" {
  export default class Allocator {
    constructor(buffer: ArrayBuffer, byteOffset?: number, byteLength?: number);
    /** Allocates `numberOfBytes` and returns the offset, or 0 when full. */
    alloc(numberOfBytes: number): number;
    /** Frees the block at `address` and returns the bytes freed. */
    free(address: number): number;
    sizeOf(address: number): number;
  }
}
