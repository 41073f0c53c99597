import { expect, test } from "vitest";
import { PAGE_SIZE } from "@ksim/core";
test("page", () => expect(PAGE_SIZE).toBe(4096));
