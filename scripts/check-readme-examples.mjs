#!/usr/bin/env node
// Runs the example of every workspace package's README (its first ```ts block) against the package's sources, and
// checks what it prints: a `console.log(...)` line that ends in `// text` must print that text (up to a ": " that
// starts an explanation, without surrounding quotes). A README whose example no longer runs, or whose comments no
// longer say what it prints, fails here instead of misleading a reader.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const SCRATCH = ".readme-example"; // inside the package, so that the example's self-import resolves (gitignored)

/** The first ```ts block of a README, or undefined. */
function firstExample(markdown) {
  const match = /^```ts\n([\s\S]*?)^```$/m.exec(markdown);
  return match?.[1];
}

/** What each `console.log(...); // text` line promises to print. */
function promises(code) {
  const out = [];
  for (const line of code.split("\n")) {
    const m = /^\s*console\.log\(.*\);\s*\/\/ (.+)$/.exec(line);
    if (m === null) continue;
    // An object or array is printed whole; otherwise ": " starts an explanation.
    let text = /^[{[]/.test(m[1]) ? m[1].trim() : m[1].split(/: /)[0].trim();
    text = text.replace(/^"(.*)"$/, "$1");
    out.push({ line: line.trim(), text });
  }
  return out;
}

function check(dir) {
  const readme = join(dir, "README.md");
  if (!existsSync(readme) || !existsSync(join(dir, "package.json"))) return [];
  const code = firstExample(readFileSync(readme, "utf8"));
  if (code === undefined || !code.includes("@ksim/")) return [];
  const scratch = join(dir, SCRATCH);
  mkdirSync(scratch, { recursive: true });
  writeFileSync(join(scratch, "example.ts"), code);
  try {
    const result = spawnSync(
      process.execPath,
      ["--conditions=@ksim/source", "--import", "tsx", join(SCRATCH, "example.ts")],
      { cwd: dir, encoding: "utf8" },
    );
    const problems = [];
    if (result.status !== 0)
      problems.push(`exits with ${result.status}:\n${result.stderr.trim().split("\n").slice(0, 8).join("\n")}`);
    // Whitespace-insensitive: Node breaks a long object over several lines.
    const flat = (text) => text.replace(/\s+/g, " ");
    const printed = flat(result.stdout);
    for (const p of promises(code)) {
      if (!printed.includes(flat(p.text))) problems.push(`does not print "${p.text}" (${p.line})`);
    }
    return problems.map((p) => `${join(dir, "README.md").slice(root.length)}: ${p}`);
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
    const found = check(join(groupDir, name));
    checked++;
    problems.push(...found);
  }
}
if (problems.length > 0) {
  console.error(problems.join("\n"));
  console.error(`\nREADME examples: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`README examples: ${checked} packages checked, every example runs and prints what it says`);
