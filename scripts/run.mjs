#!/usr/bin/env node
// Entry point for `npm start`, `npm test` and `npm run ci` on a machine that has only Node and npm.
// It fetches a pinned pnpm through npx (corepack's signature check fails on our CI machines),
// installs the workspace, then runs the requested job through pnpm and turbo.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PNPM = "pnpm@10.34.9";
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const RESULTS = join(root, ".vitest-results");

function run(args, extraEnv = {}) {
  const result = spawnSync("npx", ["--yes", PNPM, ...args], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, ...extraEnv },
  });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function install() {
  const frozen = process.env.CI ? ["--frozen-lockfile"] : [];
  const status = run(["install", "--reporter=append-only", ...frozen]);
  if (status !== 0) process.exit(status);
}

/**
 * Sums the per-package vitest JSON reports into the plain closing line CI reads. A suite that failed to load (its
 * tests never ran) counts as one failure, and so does a package whose tests left no report at all.
 */
function summarize(expected) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const reports = existsSync(RESULTS) ? readdirSync(RESULTS) : [];
  for (const file of reports) {
    const report = JSON.parse(readFileSync(join(RESULTS, file), "utf8"));
    passed += report.numPassedTests ?? 0;
    failed += (report.numFailedTests ?? 0) + (report.numFailedTestSuites ?? 0);
    skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  }
  failed += Math.max(0, expected - reports.length);
  console.log(`\ntests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
}

/** Workspace packages that have a test script: each must leave a report. */
function packagesWithTests() {
  let count = 0;
  for (const group of ["packages", "apps"]) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const manifest = join(dir, name, "package.json");
      if (existsSync(manifest) && JSON.parse(readFileSync(manifest, "utf8")).scripts?.test) count++;
    }
  }
  return count;
}

const job = process.argv[2];
switch (job) {
  case "start": {
    install();
    process.exit(run(["run", "demo"]));
    break;
  }
  case "test": {
    install();
    rmSync(RESULTS, { recursive: true, force: true });
    // --force: every test really runs (a cache hit would print no report to sum up). Through `pnpm run`, not
    // `pnpm exec`: npx puts a relative ./node_modules/.bin first on PATH, and turbo, resolving pnpm through it,
    // then fails to spawn tasks from package directories.
    const status = run(["run", "test:all", "--force"], { KSIM_TEST_REPORT: RESULTS });
    summarize(packagesWithTests());
    process.exit(status);
    break;
  }
  case "ci": {
    install();
    for (const step of [
      ["run", "lint"],
      ["run", "typecheck"],
      ["run", "check:publish"],
      ["run", "check:readme"],
    ]) {
      const status = run(step);
      if (status !== 0) process.exit(status);
    }
    break;
  }
  default:
    console.error(`usage: node scripts/run.mjs start|test|ci (got ${job ?? "nothing"})`);
    process.exit(2);
}
