import { describeHeapConformance } from "./conformance.js";
import { fakeHeap } from "./testing/fixture.js";
import { realHeap } from "./testing/real-stack.js";

describeHeapConformance("Heap on the real stack", () => {
  const { heap, arch } = realHeap();
  return { heap, memory: arch.memory };
});

describeHeapConformance("Heap in debug mode on the real stack", () => {
  const { heap, arch } = realHeap({ debug: true });
  return { heap, memory: arch.memory };
});

describeHeapConformance("Heap on the test doubles", () => {
  const { heap, memory } = fakeHeap();
  return { heap, memory };
});
