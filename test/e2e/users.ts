// Tests only: temporary unprivileged users and groups (podnet-t-*) for the socket tests, removed
// again by the caller (in `after`/`finally`), and a unix-socket client run as one of them — the
// attacker's side: what happens when they connect and send bytes.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./sandbox.js";

export const PODNET = join(REPO, "bin", "podnet");

export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

export interface TestGroup {
  readonly name: string;
  readonly gid: number;
}

const tag = () => randomBytes(3).toString("hex");

export function addGroup(): TestGroup {
  const name = `podnet-t-g${tag()}`;
  execFileSync("groupadd", ["-r", name]);
  return { name, gid: Number(execFileSync("getent", ["group", name], { encoding: "utf8" }).split(":")[2]) };
}

export function removeGroup(g: TestGroup | undefined): void {
  if (g) spawnSync("groupdel", [g.name]);
}

/** A system user without a home or a login shell, in its own group (plus `groups`). */
export function addUser(groups: readonly string[] = []): TestUser {
  const name = `podnet-t-${tag()}`;
  execFileSync("useradd", [
    "-M",
    "-r",
    "-U",
    "-s",
    "/usr/sbin/nologin",
    ...(groups.length ? ["-G", groups.join(",")] : []),
    name,
  ]);
  const id = (flag: string) => Number(execFileSync("id", [flag, name], { encoding: "utf8" }).trim());
  return { name, uid: id("-u"), gid: id("-g") };
}

export function removeUser(u: TestUser | undefined): void {
  if (u) spawnSync("userdel", [u.name]); // also removes its own group
}

/** argv run as `u` (its uid, gid and supplementary groups). */
export function asUserArgv(u: TestUser, argv: readonly string[]): string[] {
  return ["setpriv", `--reuid=${u.uid}`, `--regid=${u.gid}`, "--init-groups", "--", ...argv];
}

export interface ProbeResult {
  /** refused: connect(2) failed (`code`); closed: connected, then closed with no answer; answer: got bytes. */
  readonly event: "refused" | "closed" | "answer" | "timeout";
  readonly code?: string;
  readonly text?: string;
}

const CLIENT = `
const [path, b64] = process.argv.slice(1);
const out = (o) => { process.stdout.write(JSON.stringify(o)); process.exit(0); };
const got = [];
let connected = false;
const s = require("net").connect(path);
s.on("connect", () => { connected = true; s.end(Buffer.from(b64, "base64")); });
s.on("data", (d) => got.push(d));
s.on("error", (e) => { if (!connected) out({ event: "refused", code: e.code }); });
s.on("close", () => out(got.length ? { event: "answer", text: Buffer.concat(got).toString("latin1") } : { event: "closed" }));
setTimeout(() => out({ event: "timeout" }), 5000);
`;

/** Connects to `path` as `u`, sends `request`, and reports what happened. */
export function probeAs(u: TestUser, path: string, request: Buffer | string): ProbeResult {
  const b64 = Buffer.from(request).toString("base64");
  const argv = asUserArgv(u, [process.execPath, "-e", CLIENT, path, b64]);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 15_000 });
  if (r.status !== 0) throw new Error(`probe as ${u.name} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as ProbeResult;
}

/** A launcher request for `plugin` (CNI_COMMAND=VERSION unless `env` says otherwise). */
export function launcherRequest(
  plugin: string,
  env: Record<string, string> = { CNI_COMMAND: "VERSION" },
  stdin = "",
  magic = "PNC2",
): Buffer {
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };
  const str = (s: string | Buffer) => {
    const b = Buffer.from(s);
    return Buffer.concat([u32(b.length), b]);
  };
  const kv = Object.entries(env).map(([k, v]) => str(`${k}=${v}`));
  // PNC1 (podnet 2bb07a6 and before) had no cwd
  const cwd = magic === "PNC1" ? [] : [str("/")];
  return Buffer.concat([Buffer.from(magic), str(plugin), ...cwd, u32(kv.length), ...kv, str(stdin)]);
}

export interface Daemon {
  readonly child: ChildProcess;
  log(): string;
  /** SIGTERM; resolves with the exit code and the whole log. */
  stop(): Promise<{ code: number | null; log: string }>;
  /** Resolves when it has exited on its own, or after `ms` (default 15 s): then it is killed and `code` is null. */
  exited(ms?: number): Promise<{ code: number | null; log: string }>;
}

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env["NODE_EXTRA_CA_CERTS"];
  delete env["NODE_OPTIONS"];
  return env;
}

/**
 * `podnet <argv>` as a daemon (through `sh -c 'umask U; exec …'` when `umask` is given); waits
 * until `readyPath` exists or the daemon exits.
 */
export async function startPodnet(
  argv: readonly string[],
  o: { umask?: string; readyPath?: string; netns?: string; cwd?: string } = {},
): Promise<Daemon> {
  let cmd = [process.execPath, PODNET, ...argv];
  if (o.netns) cmd = ["nsenter", `--net=/run/netns/${o.netns}`, ...cmd];
  if (o.umask !== undefined) cmd = ["sh", "-c", `umask ${o.umask}; exec "$0" "$@"`, ...cmd];
  const child = spawn(cmd[0]!, cmd.slice(1), {
    env: cleanEnv(),
    stdio: ["ignore", "ignore", "pipe"],
    ...(o.cwd ? { cwd: o.cwd } : {}),
  });
  let log = "";
  child.stderr!.on("data", (b: Buffer) => (log += b.toString()));
  const exit = new Promise<{ code: number | null; log: string }>((r) =>
    child.once("close", (code) => r({ code, log })),
  );
  let done = false;
  void exit.then(() => (done = true));
  if (o.readyPath) {
    for (let i = 0; i < 400 && !done && !existsSync(o.readyPath); i++) await new Promise((r) => setTimeout(r, 25));
  }
  return {
    child,
    log: () => log,
    async exited(ms = 15_000) {
      let t: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((r) => (t = setTimeout(() => r("late"), ms)));
      const first = await Promise.race([exit, late]);
      clearTimeout(t);
      if (first !== "late") return first;
      child.kill("SIGKILL");
      const { log: l } = await exit;
      return { code: null, log: `${l}\n(still running after ${ms} ms: killed)` };
    },
    async stop() {
      if (!done) {
        child.kill("SIGCONT");
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exit;
        clearTimeout(t);
      }
      return exit;
    },
  };
}
