// The rules of src/util/errors.ts, checked over the source tree: every error class extends
// PodnetError with its own code from the catalogue (CniError's family and argument errors aside),
// and no source branches on an error's message text.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ERROR_CODES, PodnetError, isPodnetError, type PodnetErrorCode } from "./errors.js";
import { isTesting, sourceFiles } from "./testing-source.js";

const files = sourceFiles();

interface ErrorClass {
  readonly name: string;
  readonly parent: string;
  readonly rel: string;
  /** The string literal its `code` field is set to, if any. */
  readonly code: string | undefined;
}

/** Every `class X extends Y` of src/ with the code literal of its body. */
const classes: ErrorClass[] = files.flatMap((f) =>
  [...f.text.matchAll(/\bclass (\w+)(?:<[^>]*>)? extends (\w+)(?:<[^>]*>)? \{/g)].map((m) => {
    const body = f.text.slice(m.index! + m[0].length, f.text.indexOf("\n}", m.index!));
    return { name: m[1]!, parent: m[2]!, rel: f.rel, code: /\breadonly code(?:: \w+)? = "(\w+)"/.exec(body)?.[1] };
  }),
);
const byName = new Map(classes.map((c) => [c.name, c]));
/** The chain of ancestors up to a built-in (the last element). */
const ancestry = (c: ErrorClass): string[] => {
  const out: string[] = [];
  for (let p: string | undefined = c.parent; p !== undefined && out.length < 20; p = byName.get(p)?.parent) out.push(p);
  return out;
};
const BUILTIN_ERRORS = new Set(["Error", "RangeError", "TypeError", "SyntaxError"]);
const errorClasses = classes.filter((c) => BUILTIN_ERRORS.has(ancestry(c).at(-1)!));

describe("one error base with stable codes", () => {
  it("finds the error classes", () => assert.ok(errorClasses.length > 30, String(errorClasses.length)));

  it("every error class extends PodnetError, but CniError's family and argument errors (RangeError)", () => {
    const outside = errorClasses
      .filter((c) => c.name !== "PodnetError" && !ancestry(c).includes("PodnetError"))
      .filter((c) => !(c.name === "CniError" || ancestry(c).includes("CniError")))
      .filter((c) => !(ancestry(c).at(-1) === "RangeError" && c.code !== undefined))
      .map((c) => `${c.rel}: ${c.name} extends ${c.parent}`);
    assert.deepEqual(outside, []);
  });

  it("each sets its own code from the catalogue, and each code belongs to one class", () => {
    const coded = errorClasses.filter(
      (c) => c.name !== "PodnetError" && (ancestry(c).includes("PodnetError") || c.code !== undefined),
    );
    assert.deepEqual(
      coded.filter((c) => c.code === undefined).map((c) => `${c.rel}: ${c.name} sets no code`),
      [],
    );
    assert.deepEqual(
      coded.filter((c) => !(c.code! in ERROR_CODES)).map((c) => `${c.rel}: ${c.name}: ${c.code} is not in ERROR_CODES`),
      [],
    );
    const owners = new Map<string, string[]>();
    for (const c of coded) owners.set(c.code!, [...(owners.get(c.code!) ?? []), c.name]);
    assert.deepEqual(
      [...owners].filter(([, o]) => o.length > 1),
      [],
    );
    assert.deepEqual(
      Object.keys(ERROR_CODES).filter((k) => !owners.has(k)),
      [],
      "codes no class uses",
    );
  });

  it("no source branches on an error's message text", () => {
    // Go's libcni matches this plugin answer by its words too (a plugin older than VERSION has no code for it).
    const allowed = ['e.message === "unknown CNI_COMMAND: VERSION"'];
    const re =
      /\.message\s*(?:===|!==|\.includes\(|\.startsWith\(|\.endsWith\(|\.match\()|\.test\((?:\([^()]*\)|[^()])*\.message\)|\.test\(errorMessage\(|\.test\(String\(e/g;
    // Tests and their helpers (testing*.ts, testing/) assert messages; the code does not branch on them.
    const bad = files
      .filter((f) => !isTesting(f.rel))
      .flatMap((f) =>
        [...f.text.matchAll(re)]
          .map((m) => ({
            f,
            line: f.text.slice(f.text.lastIndexOf("\n", m.index!) + 1, f.text.indexOf("\n", m.index!)),
          }))
          .filter(({ line }) => !allowed.some((a) => line.includes(a)))
          .map(({ f, line }) => `${f.rel}: ${line.trim()}`),
      );
    assert.deepEqual(bad, []);
  });

  it("a subclass carries its code, its name and its cause", () => {
    class ExampleError extends PodnetError {
      override name = "ExampleError";
      readonly code = "PODNET_KERNEL";
    }
    const cause = new Error("below");
    const e = new ExampleError("above", { cause });
    assert.ok(e instanceof Error);
    assert.equal(e.code, "PODNET_KERNEL");
    assert.equal(e.name, "ExampleError");
    assert.equal(e.cause, cause);
    assert.ok(isPodnetError(e) && isPodnetError(e, "PODNET_TC", "PODNET_KERNEL") && !isPodnetError(e, "PODNET_TC"));
    assert.equal(isPodnetError(new Error("x")), false);
    assert.ok(
      Object.keys(ERROR_CODES).every(
        (k: string) => /^PODNET_[A-Z_]+$/.test(k) && (ERROR_CODES[k as PodnetErrorCode] as string).length > 10,
      ),
    );
  });
});
