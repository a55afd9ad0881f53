// IPAM delegation (Go's pkg/ipam ExecAdd/ExecDel/ExecCheck/ExecStatus): find `ipam.type` in
// CNI_PATH and run it with our own environment (only CNI_COMMAND changed) and the very stdin bytes
// we received; its result is read in the request's version and up-converted.
//
// When the plugin found is podnet's own host-local (sdk/bundle.ts podnetPluginCheck), it is called in-process
// instead (same code, same store, same flock), which saves one Node start-up per operation. The
// result still makes the round trip through the request's version, exactly as an exec would.
// PODNET_IPAM_EXEC=1 in the environment forces the exec.
import {
  CniCode,
  CniError,
  convertResult,
  parseResult,
  readJson,
  toCurrent,
  type AnyResult,
  type Result,
} from "../../../cni/index.js";
import type { RawExec } from "../../../kernel/exec.js";
import { execPlugin } from "../../../libcni/invoke.js";
import { findInPath } from "../../../libcni/find.js";
import type { PodnetPluginCheck } from "../../../sdk/bundle.js";
import { RelayedError, type CmdArgs } from "../../../sdk/types.js";
import {
  hostLocalAdd,
  hostLocalCheck,
  hostLocalDel,
  hostLocalGc,
  hostLocalStatus,
  type HostLocalDeps,
} from "../../ipam/host-local/host-local.js";

export type IpamVerb = "ADD" | "DEL" | "CHECK" | "STATUS" | "GC";

/** Runs the IPAM plugin named `type` for one verb of the current invocation. */
export interface Ipam {
  /** The IPAM result in the 1.x shape. */
  add(type: string, args: CmdArgs): Promise<Result>;
  del(type: string, args: CmdArgs): Promise<void>;
  check(type: string, args: CmdArgs): Promise<void>;
  status(type: string, args: CmdArgs): Promise<void>;
  gc(type: string, args: CmdArgs): Promise<void>;
}

export interface IpamDelegateDeps {
  readonly exec: RawExec;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Where a plugin lives (libcni FindInPath); default findInPath. */
  readonly find?: (name: string, dirs: readonly string[]) => string;
  /** host-local's dependencies, to run podnet's host-local in-process; omit to always exec. */
  readonly hostLocal?: HostLocalDeps;
  /** Whether a file is podnet's own plugin (sdk/bundle.ts); required for in-process calls. */
  readonly isPodnetPlugin?: PodnetPluginCheck;
}

function delegateEnv(args: CmdArgs, verb: IpamVerb): Record<string, string | undefined> {
  return { ...args.env, CNI_COMMAND: verb };
}

export function createIpamDelegate(deps: IpamDelegateDeps): Ipam {
  const find = deps.find ?? findInPath;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

  /** The in-process host-local, when `type` resolves to podnet's own bundle. */
  function inProcess(type: string, path: string, args: CmdArgs): HostLocalDeps | undefined {
    if (type !== "host-local" || !deps.hostLocal || !deps.isPodnetPlugin) return undefined;
    if (args.env["PODNET_IPAM_EXEC"] === "1") return undefined;
    return deps.isPodnetPlugin(path, type) ? deps.hostLocal : undefined;
  }

  /** Execs the IPAM plugin; its own error answer is relayed as it is (code, msg, details). */
  async function exec(path: string, verb: IpamVerb, args: CmdArgs): Promise<Buffer> {
    try {
      return await execPlugin({ exec: deps.exec, sleep }, path, args.stdinData, delegateEnv(args, verb));
    } catch (e) {
      throw e instanceof CniError ? RelayedError.from(e) : e;
    }
  }
  const run = (type: string, verb: IpamVerb, args: CmdArgs): Promise<Buffer> => exec(find(type, args.path), verb, args);

  return {
    async add(type, args) {
      const path = find(type, args.path);
      const hl = inProcess(type, path, args);
      let raw: AnyResult;
      if (hl) {
        // What the executable would have printed: the result in the request's version.
        raw = convertResult(await hostLocalAdd(args.netconf, args, hl), args.cniVersion);
      } else {
        const out = await exec(path, "ADD", args);
        let json: unknown;
        try {
          json = readJson(out);
        } catch (e) {
          throw new CniError(
            CniCode.DecodingFailure,
            `failed to parse the result of IPAM plugin "${type}": ${(e as Error).message}`,
          );
        }
        raw = parseResult(json, args.cniVersion).result;
      }
      return toCurrent(raw);
    },
    async del(type, args) {
      const hl = inProcess(type, find(type, args.path), args);
      if (hl) return hostLocalDel(args.netconf, args, hl);
      await run(type, "DEL", args);
    },
    async check(type, args) {
      const hl = inProcess(type, find(type, args.path), args);
      if (hl) return hostLocalCheck(args.netconf, args, hl);
      await run(type, "CHECK", args);
    },
    async status(type, args) {
      const hl = inProcess(type, find(type, args.path), args);
      if (hl) return hostLocalStatus(args.netconf, hl);
      await run(type, "STATUS", args);
    },
    async gc(type, args) {
      const hl = inProcess(type, find(type, args.path), args);
      if (hl) return hostLocalGc(args.netconf, hl);
      await run(type, "GC", args);
    },
  };
}
