// `podnet node --config FILE`: the flags as a YAML file. Each key is a flag's name exactly as on
// the command line, without the dashes (`pod-cidr`, `network-plugin-mtu`): the key set is
// NODE_FLAGS (options.ts), so every flag is a key the day it is added. As the kubelet does with
// its --config, the file is strict and the command line wins:
//   - an unknown key is an error naming it (and the flag it was probably meant to be:
//     `networkPlugin` → "did you mean network-plugin?");
//   - a value of the wrong type is an error naming the key and the value (booleans are YAML
//     booleans, the MTU an integer, comma-separated flags a string or a list of strings, every
//     other flag a string);
//   - a flag given on the command line overrides the file's key (argv is read after the file).
// The file is read within MAX_NODE_CONFIG_BYTES and the YAML bounds of Pod manifests. Paths in it
// are used as written: give absolute ones (a relative path is relative to the daemon's working
// directory, "/" under systemd). docs/node-config.example.yaml is a documented example.
import { parseArgs } from "node:util";
import { brief, formatBytes } from "../../cni/index.js";
import { BoundedReadError, readFileBounded } from "../../kernel/read-bounded.js";
import { parseYamlDocument, YamlInputError } from "../../util/bounded-yaml.js";
import { errorMessage } from "../../util/error-message.js";
import { MAX_YAML_ALIASES, MAX_YAML_DEPTH } from "../sandbox/pod-manifest.js";
import { suggestField } from "../sandbox/pod-fields.js";
import {
  BOOLEAN_FLAGS,
  type FlagName,
  INTEGER_FLAGS,
  LIST_FLAGS,
  NODE_FLAGS,
  type NodeOptions,
  parseNodeArgs,
  UsageError,
} from "./options.js";

/** Largest config file read (a full one is ~2 KiB). */
export const MAX_NODE_CONFIG_BYTES = 256 << 10;

/** The keys a config file may have: every flag but --config itself. */
export const configKeys = (): FlagName[] => (Object.keys(NODE_FLAGS) as FlagName[]).filter((k) => k !== "config");

/** "networkPluginMtu" → "network-plugin-mtu" */
const kebab = (k: string) =>
  k
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/_/g, "-")
    .toLowerCase();

function didYouMean(key: string, known: readonly string[]): string {
  const k = known.includes(kebab(key)) ? kebab(key) : suggestField(key, known);
  return k !== undefined
    ? ` (did you mean ${JSON.stringify(k)}?)`
    : ` (the keys are the flags of \`podnet node --help\`, without the dashes)`;
}

/** One key's value as the flag's text; throws a message naming the key and the value. */
function flagValue(key: FlagName, v: unknown): string {
  const got = `got ${brief(v)}`;
  if (v === null || v === undefined) throw new Error(`${key}: has no value (leave the key out for the default)`);
  if (BOOLEAN_FLAGS.includes(key)) {
    if (typeof v !== "boolean") throw new Error(`${key}: must be true or false, ${got}`);
    return String(v);
  }
  if (INTEGER_FLAGS.includes(key)) {
    if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new Error(`${key}: must be an integer, ${got}`);
    return String(v);
  }
  if (LIST_FLAGS.includes(key)) {
    if (typeof v === "string") return v;
    if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string")) return v.join(",");
    throw new Error(`${key}: must be a string or a list of strings, ${got}`);
  }
  if (typeof v === "string") return v;
  const quote = typeof v === "number" || typeof v === "boolean" ? ` (quote it for a string: "${String(v)}")` : "";
  throw new Error(`${key}: must be a string, ${got}${quote}`);
}

/**
 * A config file's text → the flags it sets, as `--key=value` arguments (pure). Throws a
 * UsageError naming `file`, and the key and value at fault.
 */
export function configFileArgs(text: string, file: string): string[] {
  const fail = (m: string) => new UsageError(`--config ${file}: ${m}`);
  let doc: unknown;
  try {
    doc = parseYamlDocument(text, {
      what: "the config file",
      maxDepth: MAX_YAML_DEPTH,
      maxAliases: MAX_YAML_ALIASES,
      allowEmpty: true,
    });
  } catch (e) {
    if (e instanceof YamlInputError) throw fail(e.message);
    throw e;
  }
  if (doc === null) return [];
  if (typeof doc !== "object" || Array.isArray(doc) || doc instanceof Map)
    throw fail(`must be a mapping of flag names to values, got ${brief(doc)}`);
  const known = configKeys();
  const args: string[] = [];
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    if (key === "config") throw fail(`config: a config file cannot name another (--config is a command-line flag)`);
    if (!(known as string[]).includes(key)) throw fail(`unknown key ${JSON.stringify(key)}${didYouMean(key, known)}`);
    try {
      args.push(`--${key}=${flagValue(key as FlagName, v)}`);
    } catch (e) {
      throw fail(errorMessage(e));
    }
  }
  return args;
}

/** Reads a config file within MAX_NODE_CONFIG_BYTES (a regular file only). */
export function readConfigFile(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileBounded(path, MAX_NODE_CONFIG_BYTES);
  } catch (e) {
    if (e instanceof BoundedReadError && e.errno === "EFBIG")
      throw new UsageError(`--config ${path}: larger than ${formatBytes(MAX_NODE_CONFIG_BYTES)}`);
    throw new UsageError(`--config ${path}: cannot read it: ${errorMessage(e)}`);
  }
  return bytes.toString("utf8");
}

/**
 * `podnet node` argv → options: the --config file's flags first, then argv's (which override
 * them), through `parse` (parseNodeArgs by default). A value from the file that fails the flag's
 * own check is reported with the file and key.
 */
export function loadNodeOptions(
  argv: readonly string[],
  o: { read?: (path: string) => string; parse?: (args: readonly string[]) => NodeOptions } = {},
): NodeOptions {
  const read = o.read ?? readConfigFile;
  const parse = o.parse ?? parseNodeArgs;
  // only --config is wanted here; parseNodeArgs reports anything wrong with the rest
  const options = Object.fromEntries(Object.keys(NODE_FLAGS).map((k) => [k, { type: "string" as const }]));
  const file: unknown = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true }).values["config"];
  if (typeof file !== "string" || file === "") return parse(argv);
  const fromFile = configFileArgs(read(file), file);
  const onCommandLine = new Set(argv.filter((a) => a.startsWith("--")).map((a) => a.slice(2).split("=")[0]));
  try {
    return parse([...fromFile, ...argv]);
  } catch (e) {
    // "--pod-cidr: …" about a value the file gave: say so
    const m = e instanceof UsageError ? /^--([a-z0-9-]+): ([\s\S]*)$/.exec(e.message) : null;
    const key = m?.[1];
    if (m && key && !onCommandLine.has(key) && fromFile.some((a) => a.startsWith(`--${key}=`)))
      throw new UsageError(`--config ${file}: ${key}: ${m[2]}`);
    throw e;
  }
}
