// The source tree as the rule tests read it (src/layering.test.ts, src/util/errors.test.ts): every
// .ts file under src/ but tests and declarations, with its comments taken out — comments may
// mention what the code must not do; only code counts. Import from tests only.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

/** The repository's root, from the built test's place (dist/src/…). */
export const REPO_ROOT = new URL("../../..", import.meta.url).pathname;

export interface SourceFile {
  /** "src/kernel/exec.ts" */
  readonly rel: string;
  /** The code, comments removed. */
  readonly text: string;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (n.endsWith(".ts") && !n.endsWith(".test.ts") && !n.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

const codeOf = (t: string) => t.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");

export function sourceFiles(root: string = REPO_ROOT): SourceFile[] {
  return walk(join(root, "src")).map((f) => ({ rel: relative(root, f), text: codeOf(readFileSync(f, "utf8")) }));
}

/** Test helpers: `testing*.ts` files and the files of a `testing/` folder. */
export const isTesting = (rel: string): boolean => /\/testing[-\w]*\.ts$/.test(rel) || /\/testing\//.test(rel);
