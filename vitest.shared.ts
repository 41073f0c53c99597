// Shared vitest settings for every package: tests run against sibling packages' TypeScript sources
// (the "@ksim/source" export condition), so no build is needed before testing.
import { join } from "node:path";
import { defineConfig } from "vitest/config";

const reportDir = process.env.KSIM_TEST_REPORT;

export function ksimVitestConfig(packageName: string) {
  const file = packageName.replace(/^@ksim\//, "");
  return defineConfig({
    resolve: { conditions: ["@ksim/source", "module", "node", "import", "default"] },
    ssr: { resolve: { conditions: ["@ksim/source", "module", "node", "import", "default"] } },
    test: {
      include: ["src/**/*.test.ts", "test/**/*.test.ts"],
      reporters: reportDir ? ["default", ["json", { outputFile: join(reportDir, `${file}.json`) }]] : ["default"],
      passWithNoTests: false,
      // Property-based suites take seconds, and CI machines are 2 shared cores running packages in parallel:
      // a timeout here would only measure the machine's load.
      testTimeout: 120_000,
      hookTimeout: 120_000,
    },
  });
}
