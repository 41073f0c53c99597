import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as machinePackage from "./index.js";

describe("README example", () => {
  it("runs as written and prints what its comments say", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const code = /```ts\n([\s\S]*?)```/.exec(readme)![1]!;
    const body = code.replace(/^import .*$/m, ""); // the example is plain JavaScript apart from its import
    const printed: string[] = [];
    const fakeConsole = {
      log: (...args: unknown[]) =>
        printed.push(args.map((a) => (typeof a === "object" ? JSON.stringify(a) : String(a))).join(" ")),
    };
    new Function("console", "Machine", body)(fakeConsole, machinePackage.Machine);
    // Every "// expected" comment after a console.log, or an output line on its own, matches what was printed.
    const expected = [...code.matchAll(/console\.log\(.*\); \/\/ (.*)$/gm)].map((m) => m[1]!);
    const e820 = [...code.matchAll(/^\/\/ (BIOS-e820: .*)$/gm)].map((m) => m[1]!);
    expect(printed[0]!.split("\n")).toEqual(e820);
    for (const line of expected.filter((l) => !l.startsWith("{"))) expect(printed).toContain(line);
    expect(printed).toContain("edu: write32 [8] = 1234");
    expect(printed).toContain("MSI to fee00000: vector 65");
    expect(printed).toContain("IRQ 11 asserted");
  });
});
