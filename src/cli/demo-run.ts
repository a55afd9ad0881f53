// What both demos (demo.ts, demo-cluster.ts) share around their steps: Ctrl-C or SIGTERM removes
// the sandbox and exits 130; each check is printed with ✓ or ✗ and counted (none once interrupted);
// the closing line says how many passed.
import type { Colors } from "./table.js";

export class DemoRun {
  #interrupted = false;
  readonly #results: boolean[] = [];
  readonly #handlers: ReadonlyArray<readonly [NodeJS.Signals, () => void]>;
  private readonly c: Colors;
  private readonly out: (s?: string) => void;

  constructor(c: Colors, out: (s?: string) => void, cleanup: () => Promise<unknown>) {
    this.c = c;
    this.out = out;
    const on = (sig: NodeJS.Signals) => () => {
      if (this.#interrupted) return;
      this.#interrupted = true;
      process.stderr.write(`\n${c.yellow(`${sig}: cleaning up…`)}\n`);
      void cleanup().finally(() => process.exit(130));
    };
    this.#handlers = (["SIGINT", "SIGTERM"] as const).map((sig) => [sig, on(sig)] as const);
    for (const [sig, h] of this.#handlers) process.on(sig, h);
  }

  /** A signal came: the sandbox is being removed, and the process exits 130 when it is. */
  get interrupted(): boolean {
    return this.#interrupted;
  }

  /** Prints one check and counts it (not once interrupted). */
  check(ok: boolean, label: string, detail: string): void {
    if (this.#interrupted) return;
    this.#results.push(ok);
    const { c } = this;
    this.out(`  ${ok ? c.green("✓") : c.red("✗")} ${label.padEnd(25)} ${ok ? detail : c.red(detail)}`);
  }

  /** Prints the closing line; the exit code (0: every check passed). */
  summary(t0: number): number {
    const { c } = this;
    const n = this.#results.length;
    const failed = this.#results.filter((ok) => !ok).length;
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    this.out(
      failed === 0
        ? c.green(c.bold(`${n}/${n} checks passed`)) + c.dim(` in ${secs} s`)
        : c.red(c.bold(`${failed} of ${n} checks failed`)) + c.dim(` in ${secs} s`),
    );
    return failed === 0 ? 0 : 1;
  }

  /** Takes the signal handlers off again. */
  dispose(): void {
    for (const [sig, h] of this.#handlers) process.off(sig, h);
  }
}
