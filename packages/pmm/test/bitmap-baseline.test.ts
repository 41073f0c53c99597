import { BitmapAllocator } from "../bench/bitmap-allocator.js";
import { describeFrameAllocatorConformance } from "../src/conformance.js";

// The bench's first-fit bitmap baseline passes the same suite: the suite depends on the contract only.
describeFrameAllocatorConformance("first-fit bitmap baseline (bench)", (map) => new BitmapAllocator(map));
