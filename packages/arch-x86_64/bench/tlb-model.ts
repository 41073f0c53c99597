// The design's ceiling in JavaScript: a minimal software TLB with tier 1's exact hit path (a Float64Array of page
// tags, an Int32Array of offsets into one linear DataView) and a miss path that calls a page walk, over its own
// 64 MiB identity-mapped buffer. Nothing else: no permissions, no A/D bits, no faults, no other tiers. The bench
// times it beside the raw loop and the real MMU, so the gap between the real MMU and this model is what ksim's
// faithfulness costs, and the gap between this model and raw is what any TLB written in JavaScript costs here.

const SLOTS = 1 << 14;
const MASK = SLOTS - 1;

export class TlbModel {
  readonly tags = new Float64Array(SLOTS).fill(Number.NaN);
  readonly offsets = new Int32Array(SLOTS);
  readonly view: DataView;
  readonly base: number;
  walks = 0;

  /** `bytes` is mapped at linear address `base`, page i to offset i * 4096. */
  constructor(bytes: Uint8Array, base: number) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.base = base;
  }

  read32(virt: number): number {
    const low = virt >>> 0;
    const off = low & 0xfff;
    const j = (low >>> 12) & MASK;
    if (this.tags[j] === virt - off && off <= 4092) return this.view.getUint32((this.offsets[j]! >>> 0) + off, true);
    return this.readMiss(virt);
  }

  private readMiss(virt: number): number {
    const off = virt % 4096;
    const page = virt - off;
    const offset = this.walk(page);
    const j = (page / 4096) & MASK;
    this.tags[j] = page;
    this.offsets[j] = offset;
    return this.view.getUint32(offset + off, true);
  }

  /** The page's offset in the buffer; throws for an unmapped page, as a walk faults. */
  private walk(page: number): number {
    this.walks++;
    const offset = page - this.base;
    if (!(offset >= 0 && offset < this.view.byteLength && offset % 4096 === 0)) {
      throw new RangeError(`page fault at ${page.toString(16)}`);
    }
    return offset;
  }
}
