// valibot glue: parse a config object and turn the first issue into a CNI error that names the
// field and the value, e.g. `invalid bridge config: "mtu" must be 68..65535, got 10`.
import * as v from "valibot";
import { CniCode, CniError } from "./errors.js";
import { brief } from "./keys.js";

/**
 * The issue as "<field> must be <expected>, got <value>". With `showValue` false the value is left
 * out: for documents read from a file a config names, whose content may be anyone's secret.
 */
export function describeIssue(issue: v.BaseIssue<unknown>, showValue = true): string {
  const path = v.getDotPath(issue);
  const field = path ? `"${path}"` : "value";
  const got = showValue ? `, got ${brief(issue.input)}` : "";
  // Custom messages (from pipes) are written to read after the field name.
  if (issue.kind !== "schema" || issue.type === "custom") return `${field} ${issue.message}${got}`;
  if (issue.input === undefined) return `${field} is required (${issue.expected})`;
  return `${field} must be ${issue.expected}${got}`;
}

/** Parses `input` with `schema`; throws CniError(code) "invalid <what>: <issue>". */
export function parseWith<S extends v.GenericSchema>(
  schema: S,
  input: unknown,
  what: string,
  code: number = CniCode.InvalidNetworkConfig,
  opts: { showValues?: boolean } = {},
): v.InferOutput<S> {
  const r = v.safeParse(schema, input);
  if (r.success) return r.output;
  throw new CniError(code, `invalid ${what}: ${describeIssue(r.issues[0], opts.showValues ?? true)}`);
}
