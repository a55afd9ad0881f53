// Test helpers for host-local: a temporary data dir, in-process deps, and a dispatcher harness.
// Imported only by *.test.ts files.
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JsonObject } from "../../../cni/index.js";
import { dispatch } from "../../../sdk/dispatch.js";
import { readFileBoundedAsync } from "../../../kernel/read-bounded.js";
import { HOST_LOCAL_ABOUT, type HostLocalDeps, type HostLocalFs, createHostLocal } from "./host-local.js";
import { inProcessLock } from "./lock.js";

/** Runs `fn` with a fresh directory under the system temp dir, removed afterwards even on failure. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(join(tmpdir(), "podnet-hl-"));
  try {
    return await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** node:fs/promises with the bounded reader host-local needs for the files a config names. */
export const asyncFs: HostLocalFs = {
  ...fs,
  readFileLimited: async (p, max) => (await readFileBoundedAsync(p, max)).toString("utf8"),
};

export const testDeps = (): HostLocalDeps => ({ fs: asyncFs, lock: inProcessLock() });

export interface VerbOutcome {
  readonly code: number;
  readonly stdout: string;
  /** stdout parsed, when there was any. */
  readonly json: JsonObject | undefined;
}

/** One plugin invocation through the SDK dispatcher, as a runtime would make it. */
export async function runVerb(
  deps: HostLocalDeps,
  command: string,
  /** The request config (a string is sent as it is). */
  conf: JsonObject | string,
  opts: { containerID?: string; ifName?: string; args?: string } = {},
): Promise<VerbOutcome> {
  let stdout = "";
  const env: Record<string, string> = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: opts.containerID ?? "",
    CNI_NETNS: command === "ADD" || command === "CHECK" ? "/var/run/netns/podnet-t-none" : "",
    CNI_IFNAME: opts.ifName ?? "",
    CNI_ARGS: opts.args ?? "",
    CNI_PATH: "/nonexistent",
  };
  const code = await dispatch(
    {
      env,
      readStdin: async () => Buffer.from(typeof conf === "string" ? conf : JSON.stringify(conf)),
      writeStdout: (t) => {
        stdout += t;
      },
      writeStderr: () => {},
    },
    createHostLocal(deps),
    HOST_LOCAL_ABOUT,
  );
  return { code, stdout, json: stdout ? (JSON.parse(stdout) as JsonObject) : undefined };
}

/** A host-local request config over `dataDir`. */
export function netConf(dataDir: string, ipam: JsonObject, extra: JsonObject = {}, cniVersion = "1.1.0"): JsonObject {
  return { cniVersion, name: "net1", type: "bridge", ipam: { type: "host-local", dataDir, ...ipam }, ...extra };
}
