import { alignUp, checkInteger, InvalidArgumentError, isPowerOfTwo } from "@ksim/core";

/** A free extent of a {@link RangeAllocator}, for listings. */
export interface FreeExtent {
  readonly base: number;
  readonly size: number;
}

/** Options of a {@link RangeAllocator}. */
export interface RangeAllocatorOptions {
  /**
   * The allocation unit in bytes (a power of two): the window's base and size, every size and every address
   * passed in must be multiples of it. Default 4096 (a page).
   */
  readonly granule?: number;
}

// Node storage: a treap (a binary search tree kept balanced by random priorities) of the free extents, keyed by
// their start address, each node also holding the largest extent length in its subtree. That augmentation lets
// first fit skip every subtree too small for a request, so allocation, free and coalescing are all O(log n) in
// the number of free extents, whatever the window size. Nodes live in typed arrays; index 0 is the empty tree.
const INITIAL_CAPACITY = 64;
const NIL = 0;

/**
 * Allocates address ranges from one window (a virtual window such as the kernel's DMA or MMIO area): first fit in
 * address order, with alignment and a boundary a range must not cross, and coalescing of neighbouring free ranges
 * on free. It only keeps books: it maps nothing and touches no memory.
 *
 * First fit means a request always gets the lowest address where it fits, which keeps the lower part of the
 * window dense and the upper part in large free runs (the policy with the least fragmentation in practice).
 *
 * Malformed arguments throw `InvalidArgumentError` and change nothing. Running out of space is not an error:
 * {@link allocate} returns -1.
 */
export class RangeAllocator {
  /** First address of the window. */
  readonly base: number;
  /** Size of the window in bytes. */
  readonly size: number;
  /** The allocation unit in bytes. */
  readonly granule: number;

  #start: Float64Array;
  #length: Float64Array;
  /** Largest `#length` in the subtree rooted at the node. */
  #maxLength: Float64Array;
  #left: Int32Array;
  #right: Int32Array;
  #priority: Uint32Array;
  #capacity: number;
  /** Nodes handed out so far (indices 1.. are used or on the recycle list). */
  #highWater = 1;
  /** Head of the list of recycled nodes, linked through `#left`. */
  #recycled = NIL;
  #root = NIL;
  #extentCount = 0;
  #freeBytes: number;
  #seed = 0x9e3779b9;
  /** Scratch path from the root, for refreshing subtree maxima after an in-place edit. */
  #path = new Int32Array(64);

  // The request being fitted (fields rather than closure state, so a search allocates nothing).
  #wantSize = 0;
  #wantAlign = 1;
  #wantBoundary = 0;
  #fitAddress = 0;

  /**
   * Creates an allocator over `[base, base + size)`, all of it free.
   * @throws InvalidArgumentError when base or size are not granule multiples, size is 0, the window ends beyond
   * 2^53, or the granule is not a power of two.
   */
  constructor(base: number, size: number, options: RangeAllocatorOptions = {}) {
    const granule = options.granule ?? 4096;
    if (!isPowerOfTwo(granule)) throw new InvalidArgumentError("granule", granule, "not a power of two");
    checkInteger("base", base);
    checkInteger("size", size, 1);
    checkGranule("base", base, granule);
    checkGranule("size", size, granule);
    if (base + size > Number.MAX_SAFE_INTEGER) {
      throw new InvalidArgumentError("size", size, "the window would end beyond 2^53");
    }
    this.base = base;
    this.size = size;
    this.granule = granule;
    this.#capacity = INITIAL_CAPACITY;
    this.#start = new Float64Array(INITIAL_CAPACITY);
    this.#length = new Float64Array(INITIAL_CAPACITY);
    this.#maxLength = new Float64Array(INITIAL_CAPACITY);
    this.#left = new Int32Array(INITIAL_CAPACITY);
    this.#right = new Int32Array(INITIAL_CAPACITY);
    this.#priority = new Uint32Array(INITIAL_CAPACITY);
    this.#root = this.#newNode(base, size);
    this.#extentCount = 1;
    this.#freeBytes = size;
  }

  /** Bytes currently allocated. */
  get usedBytes(): number {
    return this.size - this.#freeBytes;
  }

  /** Bytes currently free. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** Number of separate free extents (1 for an empty window, 0 for a full one). */
  get freeExtentCount(): number {
    return this.#extentCount;
  }

  /** Size of the largest free extent: no request larger than this can succeed. */
  get largestFreeExtent(): number {
    return this.#maxLength[this.#root]!;
  }

  /**
   * Allocates `size` bytes at the lowest address that is a multiple of `align` and where the range does not cross
   * a multiple of `boundary` (0: no boundary).
   * @returns the address, or -1 when no free range fits (the allocator is unchanged).
   * @throws InvalidArgumentError for a size that is not a positive granule multiple, an alignment or boundary that
   * is not a power of two, or a boundary smaller than the size.
   */
  allocate(size: number, align = 1, boundary = 0): number {
    checkInteger("size", size, 1);
    checkGranule("size", size, this.granule);
    // The common alignments skip the general power-of-two test (it takes a logarithm).
    if (align !== 1 && align !== this.granule && !isPowerOfTwo(align)) {
      throw new InvalidArgumentError("align", align, "not a power of two");
    }
    if (boundary !== 0) {
      if (!isPowerOfTwo(boundary)) throw new InvalidArgumentError("boundary", boundary, "not a power of two");
      if (boundary < size) {
        throw new InvalidArgumentError(
          "boundary",
          boundary,
          `smaller than the size ${size}: every range would cross it`,
        );
      }
    }
    if (this.#maxLength[this.#root]! < size) return -1;
    this.#wantSize = size;
    this.#wantAlign = Math.max(align, this.granule);
    this.#wantBoundary = boundary;
    const node = this.#firstFit(this.#root);
    if (node === NIL) return -1;
    const address = this.#fitAddress;
    this.#carve(node, address, size);
    return address;
  }

  /**
   * Returns `[address, address + size)` to the free space, merging it with free neighbours. The range may be any
   * allocated part of the window (a whole allocation, several adjacent ones, or a piece of one).
   * @throws InvalidArgumentError, changing nothing, when the range is misaligned, leaves the window, or overlaps
   * free space (never allocated, or freed already).
   */
  free(address: number, size: number): void {
    checkInteger("address", address);
    checkInteger("size", size, 1);
    checkGranule("address", address, this.granule);
    checkGranule("size", size, this.granule);
    const end = address + size;
    if (address < this.base || end > this.base + this.size) {
      throw new InvalidArgumentError(
        "address",
        address,
        `range of ${size} bytes is outside the window [0x${this.base.toString(16)}, 0x${(this.base + this.size).toString(16)})`,
      );
    }
    // The free neighbours: the last extent starting at or before `address`, and the first starting after it.
    let before = NIL;
    let after = NIL;
    for (let t = this.#root; t !== NIL; ) {
      if (this.#start[t]! <= address) {
        before = t;
        t = this.#right[t]!;
      } else {
        after = t;
        t = this.#left[t]!;
      }
    }
    const beforeEnd = before === NIL ? -1 : this.#start[before]! + this.#length[before]!;
    if (beforeEnd > address || (after !== NIL && this.#start[after]! < end)) {
      const overlap = beforeEnd > address ? before : after;
      throw new InvalidArgumentError(
        "address",
        address,
        `range of ${size} bytes overlaps the free extent at 0x${this.#start[overlap]!.toString(16)}: ` +
          "it was never allocated or is freed already",
      );
    }
    const joinsBefore = beforeEnd === address;
    const joinsAfter = after !== NIL && this.#start[after]! === end;
    if (joinsBefore && joinsAfter) {
      const afterLength = this.#length[after]!;
      this.#root = this.#remove(this.#root, this.#start[after]!);
      this.#extentCount--;
      this.#length[before] = this.#length[before]! + size + afterLength;
      this.#refresh(this.#start[before]!);
    } else if (joinsBefore) {
      this.#length[before] = this.#length[before]! + size;
      this.#refresh(this.#start[before]!);
    } else if (joinsAfter) {
      // Moving the key down to `address` keeps the order: nothing free lies between `before` and `after`.
      this.#start[after] = address;
      this.#length[after] = this.#length[after]! + size;
      this.#refresh(address);
    } else {
      this.#root = this.#insert(this.#root, this.#newNode(address, size));
      this.#extentCount++;
    }
    this.#freeBytes += size;
  }

  /** True when every byte of `[address, address + size)` is inside the window and allocated. */
  isAllocated(address: number, size: number): boolean {
    if (!Number.isInteger(address) || !Number.isInteger(size) || size <= 0) return false;
    if (address < this.base || address + size > this.base + this.size) return false;
    let before = NIL;
    let after = NIL;
    for (let t = this.#root; t !== NIL; ) {
      if (this.#start[t]! <= address) {
        before = t;
        t = this.#right[t]!;
      } else {
        after = t;
        t = this.#left[t]!;
      }
    }
    if (before !== NIL && this.#start[before]! + this.#length[before]! > address) return false;
    return after === NIL || this.#start[after]! >= address + size;
  }

  /** The free extents in address order (for reports and tests; allocates the list). */
  freeExtents(): FreeExtent[] {
    const out: FreeExtent[] = [];
    const walk = (t: number): void => {
      if (t === NIL) return;
      walk(this.#left[t]!);
      out.push({ base: this.#start[t]!, size: this.#length[t]! });
      walk(this.#right[t]!);
    };
    walk(this.#root);
    return out;
  }

  /**
   * Checks the internal invariants (search order, subtree maxima, heap order of priorities, extents disjoint,
   * non-adjacent and inside the window, the counters) and throws an `Error` describing the first one broken.
   * O(n): for tests and debugging.
   */
  checkInvariants(): void {
    let previousEnd = -1;
    let count = 0;
    let free = 0;
    const visit = (t: number, parentPriority: number): number => {
      if (t === NIL) return 0;
      if (this.#priority[t]! > parentPriority) throw new Error(`node ${t}: priority above its parent's`);
      const leftMax = visit(this.#left[t]!, this.#priority[t]!);
      const start = this.#start[t]!;
      const length = this.#length[t]!;
      if (length <= 0) throw new Error(`extent at 0x${start.toString(16)} is empty`);
      if (start < this.base || start + length > this.base + this.size) {
        throw new Error(`extent at 0x${start.toString(16)} leaves the window`);
      }
      if (start <= previousEnd) {
        throw new Error(`extent at 0x${start.toString(16)} overlaps or touches the one before it`);
      }
      previousEnd = start + length;
      count++;
      free += length;
      const rightMax = visit(this.#right[t]!, this.#priority[t]!);
      const max = Math.max(leftMax, length, rightMax);
      if (this.#maxLength[t] !== max) {
        throw new Error(`extent at 0x${start.toString(16)}: subtree maximum ${this.#maxLength[t]} should be ${max}`);
      }
      return max;
    };
    visit(this.#root, 0xffff_ffff);
    if (count !== this.#extentCount) throw new Error(`extent count ${this.#extentCount} should be ${count}`);
    if (free !== this.#freeBytes) throw new Error(`free bytes ${this.#freeBytes} should be ${free}`);
  }

  // --- first fit -------------------------------------------------------------------------------------------

  /** The leftmost node of subtree `t` whose extent holds the request; sets `#fitAddress`. NIL if none. */
  #firstFit(t: number): number {
    if (t === NIL || this.#maxLength[t]! < this.#wantSize) return NIL;
    const inLeft = this.#firstFit(this.#left[t]!);
    if (inLeft !== NIL) return inLeft;
    if (this.#length[t]! >= this.#wantSize && this.#place(this.#start[t]!, this.#length[t]!)) return t;
    return this.#firstFit(this.#right[t]!);
  }

  /** Whether the request fits in the extent `[start, start + length)`; if so, its address goes to `#fitAddress`. */
  #place(start: number, length: number): boolean {
    const size = this.#wantSize;
    const boundary = this.#wantBoundary;
    let address = alignUp(start, this.#wantAlign);
    if (boundary !== 0 && Math.floor(address / boundary) !== Math.floor((address + size - 1) / boundary)) {
      // Move up to the next boundary. Both are powers of two: when align <= boundary that boundary is aligned;
      // when align > boundary every aligned address sits on a boundary. Either way size <= boundary means the
      // moved range cannot cross again, so one step is enough.
      address = alignUp(alignUp(address + 1, boundary), this.#wantAlign);
    }
    if (address + size > start + length) return false;
    this.#fitAddress = address;
    return true;
  }

  /** Takes `[address, address + size)` out of the extent held by `node`. */
  #carve(node: number, address: number, size: number): void {
    const start = this.#start[node]!;
    const end = start + this.#length[node]!;
    const headLength = address - start;
    const tailStart = address + size;
    const tailLength = end - tailStart;
    if (headLength === 0 && tailLength === 0) {
      this.#root = this.#remove(this.#root, start);
      this.#extentCount--;
    } else if (tailLength === 0) {
      this.#length[node] = headLength;
      this.#refresh(start);
    } else if (headLength === 0) {
      this.#start[node] = tailStart;
      this.#length[node] = tailLength;
      this.#refresh(tailStart);
    } else {
      this.#length[node] = headLength;
      this.#refresh(start);
      this.#root = this.#insert(this.#root, this.#newNode(tailStart, tailLength));
      this.#extentCount++;
    }
    this.#freeBytes -= size;
  }

  // --- treap plumbing --------------------------------------------------------------------------------------

  #update(t: number): void {
    const l = this.#maxLength[this.#left[t]!]!;
    const r = this.#maxLength[this.#right[t]!]!;
    const own = this.#length[t]!;
    this.#maxLength[t] = Math.max(own, l, r);
  }

  /** Recomputes subtree maxima on the path from the root to the node keyed `key` (after editing it in place). */
  #refresh(key: number): void {
    let depth = 0;
    for (let t = this.#root; t !== NIL; ) {
      if (depth === this.#path.length) {
        const grown = new Int32Array(depth * 2);
        grown.set(this.#path);
        this.#path = grown;
      }
      this.#path[depth++] = t;
      const s = this.#start[t]!;
      if (key === s) break;
      t = key < s ? this.#left[t]! : this.#right[t]!;
    }
    while (depth > 0) this.#update(this.#path[--depth]!);
  }

  #insert(t: number, node: number): number {
    if (t === NIL) return node;
    if (this.#start[node]! < this.#start[t]!) {
      const l = this.#insert(this.#left[t]!, node);
      this.#left[t] = l;
      if (this.#priority[l]! > this.#priority[t]!) return this.#rotateRight(t);
    } else {
      const r = this.#insert(this.#right[t]!, node);
      this.#right[t] = r;
      if (this.#priority[r]! > this.#priority[t]!) return this.#rotateLeft(t);
    }
    this.#update(t);
    return t;
  }

  #remove(t: number, key: number): number {
    if (t === NIL) return NIL;
    const s = this.#start[t]!;
    if (key < s) {
      this.#left[t] = this.#remove(this.#left[t]!, key);
    } else if (key > s) {
      this.#right[t] = this.#remove(this.#right[t]!, key);
    } else {
      const merged = this.#merge(this.#left[t]!, this.#right[t]!);
      this.#releaseNode(t);
      return merged;
    }
    this.#update(t);
    return t;
  }

  /** Joins two treaps where every key of `a` is below every key of `b`. */
  #merge(a: number, b: number): number {
    if (a === NIL) return b;
    if (b === NIL) return a;
    if (this.#priority[a]! > this.#priority[b]!) {
      this.#right[a] = this.#merge(this.#right[a]!, b);
      this.#update(a);
      return a;
    }
    this.#left[b] = this.#merge(a, this.#left[b]!);
    this.#update(b);
    return b;
  }

  #rotateRight(t: number): number {
    const l = this.#left[t]!;
    this.#left[t] = this.#right[l]!;
    this.#right[l] = t;
    this.#update(t);
    this.#update(l);
    return l;
  }

  #rotateLeft(t: number): number {
    const r = this.#right[t]!;
    this.#right[t] = this.#left[r]!;
    this.#left[r] = t;
    this.#update(t);
    this.#update(r);
    return r;
  }

  #newNode(start: number, length: number): number {
    let node = this.#recycled;
    if (node !== NIL) {
      this.#recycled = this.#left[node]!;
    } else {
      if (this.#highWater === this.#capacity) this.#grow();
      node = this.#highWater++;
    }
    this.#start[node] = start;
    this.#length[node] = length;
    this.#maxLength[node] = length;
    this.#left[node] = NIL;
    this.#right[node] = NIL;
    this.#priority[node] = this.#nextPriority();
    return node;
  }

  #releaseNode(node: number): void {
    this.#left[node] = this.#recycled;
    this.#recycled = node;
  }

  #grow(): void {
    const capacity = this.#capacity * 2;
    const grow64 = (a: Float64Array): Float64Array => {
      const b = new Float64Array(capacity);
      b.set(a);
      return b;
    };
    const grow32 = (a: Int32Array): Int32Array => {
      const b = new Int32Array(capacity);
      b.set(a);
      return b;
    };
    this.#start = grow64(this.#start);
    this.#length = grow64(this.#length);
    this.#maxLength = grow64(this.#maxLength);
    this.#left = grow32(this.#left);
    this.#right = grow32(this.#right);
    const priority = new Uint32Array(capacity);
    priority.set(this.#priority);
    this.#priority = priority;
    this.#capacity = capacity;
  }

  /** xorshift32: deterministic priorities, so a run can be replayed exactly. */
  #nextPriority(): number {
    let x = this.#seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#seed = x >>> 0;
    return this.#seed;
  }
}

function checkGranule(argument: string, value: number, granule: number): void {
  if (value % granule !== 0) {
    throw new InvalidArgumentError(argument, value, `not a multiple of the granule 0x${granule.toString(16)}`);
  }
}
