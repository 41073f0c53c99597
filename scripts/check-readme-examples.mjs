#!/usr/bin/env node
// Type-checks and runs the example of every workspace package's README (its first ```ts block) against the
// package's sources, and checks what it prints: a `console.log(...)` line that ends in `// text` must print that text (up to a ": " that
// starts an explanation, without surrounding quotes), and an example whose last line's comment names an error
// (`heap.kfree(q); // KernelPanic: ...`) must end by throwing it. A README whose example no longer runs, or whose
// comments no longer say what it prints, fails here instead of misleading a reader.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const SCRATCH = ".readme-example"; // inside the package, so that the example's self-import resolves (gitignored)
const TSC = join(root, "node_modules", "typescript", "bin", "tsc");

/** The first ```ts block of a README, or undefined. */
function firstExample(markdown) {
  return /^```ts\n([\s\S]*?)^```$/m.exec(markdown)?.[1];
}

/** What each `console.log(...); // text` line promises to print. */
function promises(code) {
  const out = [];
  for (const line of code.split("\n")) {
    const m = /^\s*console\.log\(.*\);\s*\/\/ (.+)$/.exec(line);
    if (m === null) continue;
    // An object or array is printed whole; otherwise ": " starts an explanation.
    const text = /^[{[]/.test(m[1]) ? m[1].trim() : m[1].split(/: /)[0].trim();
    out.push({ line: line.trim(), text: text.replace(/^"(.*)"$/, "$1") });
  }
  return out;
}

/** The error an example ends with on purpose: the name its last line's comment starts with, if any. */
function endsThrowing(code) {
  const last = code.trimEnd().split("\n").at(-1) ?? "";
  return /\/\/ (\w*(?:Error|Panic|Fault))\b/.exec(last)?.[1];
}

const firstLines = (text) => text.trim().split("\n").slice(0, 8).join("\n");
// Whitespace-insensitive: Node breaks a long object over several lines.
const flat = (text) => text.replace(/\s+/g, " ");

/** Problems of the package at `dir`'s README example (none when it has no example). */
function check(dir) {
  const readme = join(dir, "README.md");
  if (!existsSync(readme) || !existsSync(join(dir, "package.json"))) return [];
  const code = firstExample(readFileSync(readme, "utf8"));
  if (code === undefined || !code.includes("@ksim/")) return [];
  const scratch = join(dir, SCRATCH);
  mkdirSync(scratch, { recursive: true });
  writeFileSync(join(scratch, "example.ts"), code);
  // Type-checked with the workspace's settings, as a user's strict project would compile it.
  writeFileSync(
    join(scratch, "tsconfig.json"),
    JSON.stringify({
      extends: "../../../tsconfig.base.json",
      compilerOptions: { noEmit: true },
      include: ["example.ts"],
    }),
  );
  try {
    const tsc = spawnSync(process.execPath, [TSC, "-p", join(SCRATCH, "tsconfig.json")], {
      cwd: dir,
      encoding: "utf8",
    });
    const problems = [];
    if (tsc.status !== 0) problems.push(`does not type-check:\n${firstLines(tsc.stdout)}`);
    const result = spawnSync(
      process.execPath,
      ["--conditions=@ksim/source", "--import", "tsx", join(SCRATCH, "example.ts")],
      { cwd: dir, encoding: "utf8" },
    );
    const expectedError = endsThrowing(code);
    if (expectedError === undefined && result.status !== 0) {
      problems.push(`exits with ${result.status}:\n${firstLines(result.stderr)}`);
    } else if (expectedError !== undefined && (result.status === 0 || !result.stderr.includes(expectedError))) {
      problems.push(`should end by throwing ${expectedError} (its last line says so):\n${firstLines(result.stderr)}`);
    }
    const printed = flat(result.stdout);
    for (const p of promises(code)) {
      if (!printed.includes(flat(p.text))) problems.push(`does not print "${p.text}" (${p.line})`);
    }
    return problems.map((p) => `${readme.slice(root.length)}: ${p}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const problems = [];
let checked = 0;
for (const group of ["packages", "apps"]) {
  const groupDir = join(root, group);
  if (!existsSync(groupDir)) continue;
  for (const name of readdirSync(groupDir).sort()) {
    problems.push(...check(join(groupDir, name)));
    checked++;
  }
}
if (problems.length > 0) {
  console.error(problems.join("\n"));
  console.error(`\nREADME examples: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`README examples: ${checked} packages checked, every example type-checks, runs and prints what it says`);
