// Runs the same CNI call against Debian's Go reference plugins and podnet's built plugins and
// puts their stdout side by side. Plugins run inside a sandbox's node namespace (`ip netns exec`),
// with only the CNI variables the call names (nothing of the test runner's environment leaks in).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { GO_PLUGINS, PODNET_PLUGINS, haveRoot, type Sandbox } from "./sandbox.js";

/** The plugins both implementations have. */
export const PLUGINS = ["loopback", "host-local", "bridge", "portmap", "bandwidth"] as const;
export type Plugin = (typeof PLUGINS)[number];

/** Why the side-by-side tests cannot run here, or false. */
export const fidelitySkip = (): string | false =>
  !haveRoot()
    ? "needs root"
    : PLUGINS.some((p) => !existsSync(join(PODNET_PLUGINS, p)))
      ? "run `npm run build` first"
      : PLUGINS.some((p) => !existsSync(join(GO_PLUGINS, p)))
        ? "needs Debian's containernetworking-plugins in /usr/lib/cni"
        : false;

export type Impl = "go" | "podnet";
export const IMPLS: readonly Impl[] = ["go", "podnet"];
export const PLUGIN_DIR: Readonly<Record<Impl, string>> = { go: GO_PLUGINS, podnet: PODNET_PLUGINS };

export interface Outcome {
  readonly rc: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Call {
  readonly plugin: string;
  /** CNI_* variables; undefined entries are left out of the environment. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: string;
  /** Run in the host's namespace instead of the sandbox node's (for VERSION-style calls). */
  readonly onHost?: boolean;
}

/** Execs one plugin of one implementation; CNI_PATH defaults to that implementation's directory. */
export function runCall(sb: Sandbox | undefined, impl: Impl, call: Call): Outcome {
  const env: Record<string, string> = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };
  for (const [k, v] of Object.entries({ CNI_PATH: PLUGIN_DIR[impl], ...call.env })) if (v !== undefined) env[k] = v;
  const file = join(PLUGIN_DIR[impl], call.plugin);
  const argv = sb && !call.onHost ? ["ip", "netns", "exec", sb.node, file] : [file];
  const r = spawnSync(argv[0]!, argv.slice(1), { env, input: call.stdin, encoding: "utf8", timeout: 30_000 });
  // A plugin may exit before reading its stdin (Go's skel refuses missing variables first).
  if (r.error && (r.error as NodeJS.ErrnoException).code !== "EPIPE") throw r.error;
  return { rc: r.status, stdout: r.stdout, stderr: r.stderr };
}

// ---- canonical form: keys sorted, every scalar kept exactly as written ------------------------

type Node =
  | { kind: "raw"; text: string }
  | { kind: "arr"; items: Node[] }
  | { kind: "obj"; entries: Array<[string, string, Node]> };

/** Parses JSON text keeping each string and number token as its source bytes (escapes included). */
function parseRaw(text: string): Node {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text[i]!)) i++;
  };
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at offset ${i} of ${JSON.stringify(text.slice(0, 200))}`);
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= text.length) fail("unterminated string");
    i++;
    return text.slice(start, i);
  };
  const value = (): Node => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const entries: Array<[string, string, Node]> = [];
      ws();
      if (text[i] === "}") {
        i++;
        return { kind: "obj", entries };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a key");
        const rawKey = str();
        ws();
        if (text[i++] !== ":") fail("expected ':'");
        entries.push([JSON.parse(rawKey) as string, rawKey, value()]);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return { kind: "obj", entries };
        } else fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const items: Node[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return { kind: "arr", items };
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") {
          i++;
          return { kind: "arr", items };
        } else fail("expected ',' or ']'");
      }
    }
    if (c === '"') return { kind: "raw", text: str() };
    const m = /^(-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (!m) fail("unexpected character");
    i += m![0].length;
    return { kind: "raw", text: m![0] };
  };
  const v = value();
  ws();
  if (i !== text.length) fail("trailing text");
  return v;
}

function emit(n: Node, indent: string): string {
  if (n.kind === "raw") return n.text;
  const inner = `${indent}    `;
  if (n.kind === "arr")
    return n.items.length ? `[\n${n.items.map((x) => inner + emit(x, inner)).join(",\n")}\n${indent}]` : "[]";
  if (!n.entries.length) return "{}";
  const sorted = [...n.entries].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `{\n${sorted.map(([, k, v]) => `${inner}${k}: ${emit(v, inner)}`).join(",\n")}\n${indent}}`;
}

/**
 * The document with its keys sorted, indented as Go's MarshalIndent(v, "", "    "), every string
 * and number exactly as the plugin wrote it (so `\u003c` and `<` stay different). Text that is
 * not one JSON document comes back as it was.
 */
export function canonical(text: string): string {
  try {
    return emit(parseRaw(text), "");
  } catch {
    return text;
  }
}

// ---- comparing the two implementations ---------------------------------------------------------

/**
 * What must differ between two runs, and nothing else: the kernel gives every new veth, bridge
 * and ifb a random MAC address; both implementations name a pod's host-side veth "veth" + 8
 * random hex digits; and where a plugin lists the versions it supports, podnet's list goes on to
 * 1.1.0, which the reference does not speak.
 */
export function normalise(text: string): string {
  return text
    .replace(/"([0-9a-f]{2}:){5}[0-9a-f]{2}"/g, '"MAC"')
    .replace(/"veth[0-9a-f]{8}"/g, '"vethX"')
    .replace(/(plugin supports \[.*) \\"1\.1\.0\\"\]/, "$1]");
}

/** The spec version the reference is asked in place of `v`: v1.1.1 speaks up to 1.0.0. */
export const goVersionFor = (v: string): string => (v === "1.1.0" ? "1.0.0" : v);

/**
 * The reference's answer as podnet's for `v`. For 1.1.0, which v1.1.1 does not speak, it is the
 * 1.0.0 answer under the 1.1.0 label: the reference's library prints both versions from one struct
 * (types100), so a 1.1.0 result holding only 1.0.0 fields prints exactly as the 1.0.0 one.
 */
export function asVersion(goStdout: string, v: string): string {
  return v === "1.1.0" ? goStdout.replace(/^(\s*"cniVersion": )"1\.0\.0"/m, '$1"1.1.0"') : goStdout;
}

/** Asserts one exit code and one document: keys sorted first (the criterion), then byte for byte. */
export function assertSameOutput(podnet: Outcome, goStdout: string, goRc: number | null, what: string): void {
  const ours = normalise(podnet.stdout);
  const theirs = normalise(goStdout);
  if (podnet.rc !== goRc || canonical(ours) !== canonical(theirs)) {
    throw new Error(
      `${what}: podnet differs from the reference\n--- reference (rc ${goRc})\n${canonical(theirs)}\n--- podnet (rc ${podnet.rc})\n${canonical(ours)}\n${podnet.stderr}`,
    );
  }
  if (ours !== theirs)
    throw new Error(
      `${what}: same document, different bytes (key order or spacing)\n--- reference\n${theirs}\n--- podnet\n${ours}`,
    );
}
