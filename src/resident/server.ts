// The resident plugin server: answers launcher requests by running podnet's plugin functions
// in-process through the same SDK dispatcher a plugin executable uses.
import { createServer, type Server } from "node:net";
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { CniCode, CniError } from "../cni/index.js";
import { dispatch } from "../sdk/dispatch.js";
import type { PluginAbout, PluginFuncs } from "../sdk/types.js";
import { decodeRequest, encodeResponse, type LaunchRequest, type LaunchResponse } from "./protocol.js";

/** A plugin the daemon serves: its about, and a fresh instance per call (closed after it). */
export interface ResidentPlugin {
  readonly about: PluginAbout;
  make(): { readonly funcs: PluginFuncs; close(): void };
}

export type Registry = ReadonlyMap<string, ResidentPlugin>;

/** A registry entry for plugin functions that hold nothing per call. */
export const stateless = (funcs: PluginFuncs, about: PluginAbout): ResidentPlugin => ({ about, make: () => ({ funcs, close: () => {} }) });

export interface ServeStats {
  calls: number;
  errors: number;
}

/** Runs one request through the dispatcher and captures what a plugin process would print. */
export async function handle(registry: Registry, req: LaunchRequest, isOwnNetns?: (p: string) => boolean): Promise<LaunchResponse> {
  const p = registry.get(req.plugin);
  if (!p) {
    const err = new CniError(CniCode.PluginNotAvailable, `the podnet daemon has no plugin "${req.plugin}"`);
    return { code: 1, stdout: JSON.stringify(err.toWire()), stderr: "" };
  }
  let stdout = "";
  let stderr = "";
  const inst = p.make();
  try {
    const code = await dispatch(
      {
        env: req.env,
        readStdin: async () => req.stdin,
        writeStdout: (t) => void (stdout += t),
        writeStderr: (t) => void (stderr += t),
        ...(isOwnNetns ? { isOwnNetns } : {}),
        now: () => performance.now(),
      },
      inst.funcs,
      p.about,
    );
    return { code, stdout, stderr };
  } finally {
    inst.close();
  }
}

/** Listens on `socketPath` (mode 0600, replacing a stale socket file). */
export function serveResident(
  socketPath: string,
  registry: Registry,
  opts: { isOwnNetns?: (p: string) => boolean; stats?: ServeStats; onError?: (e: Error) => void } = {},
): Promise<Server> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
  rmSync(socketPath, { force: true });
  // allowHalfOpen: the launcher shuts down its side after the request; we still answer.
  const server = createServer({ allowHalfOpen: true }, (conn) => {
    const chunks: Buffer[] = [];
    conn.on("data", (c: Buffer) => chunks.push(c));
    conn.on("error", (e) => opts.onError?.(e));
    conn.on("end", () => {
      let req: LaunchRequest;
      try {
        req = decodeRequest(Buffer.concat(chunks));
      } catch (e) {
        opts.onError?.(e as Error);
        conn.destroy();
        return;
      }
      handle(registry, req, opts.isOwnNetns).then(
        (res) => {
          if (opts.stats) {
            opts.stats.calls++;
            if (res.code !== 0) opts.stats.errors++;
          }
          conn.end(encodeResponse(res));
        },
        (e: Error) => {
          opts.onError?.(e);
          conn.destroy();
        },
      );
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      chmodSync(socketPath, 0o600);
      server.off("error", reject);
      resolve(server);
    });
  });
}
