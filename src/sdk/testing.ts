// Test helpers for plugin authors: run a PluginFuncs through the real dispatcher with fake IO.
import { dispatch } from "./dispatch.js";
import type { PluginAbout, PluginFuncs } from "./types.js";

export interface InvokeResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON, when it is JSON. */
  readonly json: Record<string, unknown> | undefined;
}

export interface Invocation {
  readonly command: string;
  readonly conf?: Record<string, unknown> | string;
  readonly containerID?: string;
  readonly netns?: string;
  readonly ifName?: string;
  readonly args?: string;
  readonly path?: string;
  readonly env?: Record<string, string>;
}

export async function invokeFuncs(funcs: PluginFuncs, about: PluginAbout, inv: Invocation): Promise<InvokeResult> {
  let stdout = "";
  let stderr = "";
  const env: Record<string, string | undefined> = {
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerID ?? "ctr1",
    CNI_NETNS: inv.netns ?? "/var/run/netns/test",
    CNI_IFNAME: inv.ifName ?? "eth0",
    CNI_ARGS: inv.args ?? "",
    CNI_PATH: inv.path ?? "/opt/cni/bin",
    ...inv.env,
  };
  const stdin = typeof inv.conf === "string" ? inv.conf : JSON.stringify(inv.conf ?? {});
  const code = await dispatch(
    {
      env,
      readStdin: async () => Buffer.from(stdin),
      writeStdout: (t) => (stdout += t),
      writeStderr: (t) => (stderr += t),
    },
    funcs,
    about,
  );
  let json: Record<string, unknown> | undefined;
  try {
    json = stdout ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr, json };
}
