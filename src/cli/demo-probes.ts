// Live checks the demo runs between namespaces: ping, a TCP request through a hostPort, and a timed
// bulk transfer. The traffic side is demo-probe-tool.ts, run by Node inside the namespaces.
import { fileURLToPath } from "node:url";
import { Background, inNs } from "./demo-lab.js";

const PROBE_TOOL = fileURLToPath(new URL("./demo-probe-tool.js", import.meta.url));

/** demo-probe-tool.ts COMMAND ARGS in the background inside `ns`. */
export const probeIn = (ns: string, command: string, ...args: Array<string | number>): Background =>
  new Background("ip", ["netns", "exec", ns, process.execPath, PROBE_TOOL, command, ...args.map(String)]);

/** `ping -c3 -i 0.2`; the average RTT in ms, or undefined when nothing came back. */
export async function ping(fromNs: string, ip: string): Promise<number | undefined> {
  const r = await inNs(fromNs, ["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", ip]);
  if (r.status !== 0) return undefined;
  const m = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  return m ? Number(m[1]) : undefined;
}

/** A server in `ns` answering each connection with `text` until killed. */
export const serve = (ns: string, port: number, text: string): Background => probeIn(ns, "serve", port, text);

/** Connects from `ns` (retrying while the server starts); the text and the time of the successful attempt. */
export async function tcpGet(
  ns: string,
  host: string,
  port: number,
): Promise<{ text: string; ms: number } | { error: string }> {
  const r = await inNs(ns, [process.execPath, PROBE_TOOL, "get", host, String(port)]);
  try {
    return JSON.parse(r.stdout) as { text: string; ms: number };
  } catch {
    return { error: r.stderr.trim() || `exit ${r.status}` };
  }
}

/**
 * Bulk transfer from `fromNs` to `toIp`:`port` (a sink in `toNs`): the bytes received in a
 * `windowMs` window after a `warmupMs` warm-up, in bits per second.
 */
export async function transferRate(
  fromNs: string,
  toNs: string,
  toIp: string,
  port: number,
  windowMs = 1000,
  warmupMs = 250,
): Promise<number | { error: string }> {
  const give = windowMs + warmupMs + 8000;
  const sink = probeIn(toNs, "sink", port, warmupMs, windowMs, give);
  const sender = probeIn(fromNs, "send", toIp, port, give);
  const r = await sink.done;
  await sender.kill();
  const lines = (r?.stdout.toString() ?? "")
    .trim()
    .split("\n")
    .map((l) => {
      try {
        return JSON.parse(l) as { bps?: number; error?: string };
      } catch {
        return {};
      }
    });
  const res = lines.find((l) => l.bps !== undefined);
  return res?.bps ?? { error: lines.find((l) => l.error)?.error ?? (r?.stderr.toString().trim() || "no result") };
}
