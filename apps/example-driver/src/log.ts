import { DEBUG, ERR, INFO, type LogLevel, logLevelTag, NOHEADER, WARN } from "@ksim/core";

export { DEBUG, ERR, INFO, NOHEADER, WARN };

/**
 * A boot log in the kernel's format: `[<sec>.<usec>] [CPU0] [TAG] [module] message`. The kernel package will bring
 * the real dprintf with C format strings; the demo only needs the header.
 */
export class BootLog {
  readonly lines: string[] = [];
  readonly #start = performance.now();
  readonly #echo: boolean;

  constructor(echo = true) {
    this.#echo = echo;
  }

  print(level: LogLevel, module: string, message: string): void {
    for (const line of message.split("\n"))
      this.#emit(level === NOHEADER ? line : `${this.#header(level, module)}${line}`);
  }

  #header(level: LogLevel, module: string): string {
    const elapsed = (performance.now() - this.#start) / 1000;
    const seconds = Math.floor(elapsed);
    const micros = Math.floor((elapsed - seconds) * 1e6);
    return `[${seconds}.${String(micros).padStart(6, "0")}] [CPU0] [${logLevelTag(level)}] [${module}] `;
  }

  #emit(line: string): void {
    this.lines.push(line);
    if (this.#echo) console.log(line);
  }
}
