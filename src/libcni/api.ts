// The runtime (libcni's CNIConfig): chains ADD/CHECK/DEL/STATUS/GC over a network config list,
// with the result cache, capability filtering and version probing.
import { existsSync } from "node:fs";
import {
  CniCode,
  CniError,
  formatCniArgs,
  JsonInputError,
  readJson,
  parseResult,
  specHas,
  buildRequest,
  validateContainerID,
  validateEnvValue,
  validateIfName,
  validateNetworkName,
  type AnyResult,
  type JsonObject,
  type NetworkConfigList,
  type PluginConf,
} from "../cni/index.js";
import type { RawExec } from "../kernel/exec.js";
import { DEFAULT_CACHE_DIR, ResultCache, type CachedAttachment } from "./cache.js";
import { findInPath } from "./find.js";
import { execPlugin, type InvokeDeps } from "./invoke.js";

export interface RuntimeConf {
  readonly containerID: string;
  readonly netns: string;
  readonly ifName: string;
  /** CNI_ARGS as ordered pairs. */
  readonly args?: ReadonlyArray<readonly [string, string]>;
  /** Capability arguments; only those a plugin enables reach it, as runtimeConfig. */
  readonly capabilityArgs?: Readonly<Record<string, unknown>>;
}

export interface GcArgs {
  readonly validAttachments: ReadonlyArray<{ containerID: string; ifname: string }>;
  /** Told of each stale cached attachment once its DEL went through the chain. */
  readonly onDeleted?: (a: CachedAttachment) => void;
  /** Told of each plugin's GC (the error, when it failed). */
  readonly onPluginGc?: (type: string, error?: Error) => void;
}

export interface VersionInfo {
  readonly cniVersion: string;
  readonly supportedVersions: readonly string[];
}

export interface CniRuntimeOptions {
  /** Directories searched for plugins (CNI_PATH). */
  readonly path: readonly string[];
  readonly cacheDir?: string;
  readonly exec: RawExec;
  /** The environment plugins inherit (the CNI_* values override). Default: none but PATH. */
  readonly baseEnv?: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly onStderr?: (text: string) => void;
  /** Whether a netns path exists (checked before ADD and CHECK). Default: the file exists. */
  readonly netnsExists?: (path: string) => boolean;
}

type Verb = "ADD" | "DEL" | "CHECK" | "STATUS" | "GC" | "VERSION";

export class CniRuntime {
  readonly cache: ResultCache;
  private readonly deps: InvokeDeps;
  private readonly opts: CniRuntimeOptions;

  constructor(opts: CniRuntimeOptions) {
    this.opts = opts;
    this.cache = new ResultCache(opts.cacheDir ?? DEFAULT_CACHE_DIR);
    this.deps = { exec: opts.exec, sleep: opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))) };
  }

  private env(verb: Verb, rt: Partial<RuntimeConf>): Record<string, string | undefined> {
    return {
      ...(this.opts.baseEnv ?? { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }),
      CNI_COMMAND: verb,
      CNI_CONTAINERID: rt.containerID ?? "",
      CNI_NETNS: rt.netns ?? "",
      CNI_IFNAME: rt.ifName ?? "",
      CNI_ARGS: formatCniArgs(rt.args ?? []),
      CNI_PATH: this.opts.path.join(":"),
    };
  }

  private async run(verb: Verb, plugin: PluginConf, req: JsonObject, rt: Partial<RuntimeConf>): Promise<Buffer> {
    const path = findInPath(plugin.type, this.opts.path);
    return execPlugin(this.deps, path, JSON.stringify(req), this.env(verb, rt), {
      ...(this.opts.timeoutMs ? { timeoutMs: this.opts.timeoutMs } : {}),
      ...(this.opts.onStderr ? { onStderr: this.opts.onStderr } : {}),
    });
  }

  private requireNetns(netns: string): void {
    if (netns && !(this.opts.netnsExists ?? existsSync)(netns)) {
      throw new CniError(CniCode.UnknownContainer, `network namespace "${netns}" does not exist`);
    }
  }

  /** ADD through the chain; the final result is cached. A failed ADD caches nothing. */
  async addNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<AnyResult> {
    validateContainerID(rt.containerID);
    validateNetworkName(list.name);
    validateIfName(rt.ifName);
    validateEnvValue("netns", rt.netns);
    this.requireNetns(rt.netns);
    let result: AnyResult | undefined;
    for (const p of list.plugins) {
      const req = buildRequest({
        list,
        plugin: p,
        ...(result ? { prevResult: result } : {}),
        ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}),
      });
      let out: Buffer;
      try {
        out = await this.run("ADD", p, req, rt);
      } catch (e) {
        throw wrap(e, p, list, "add");
      }
      let raw: unknown;
      try {
        raw = out.length === 0 ? null : readJson(out);
      } catch (e) {
        if (!(e instanceof JsonInputError)) throw e;
        throw new CniError(
          CniCode.DecodingFailure,
          `plugin type="${p.type}" name="${list.name}" failed (add): failed to unmarshal raw result: ${e.message}`,
        );
      }
      try {
        result = parseResult(raw, list.cniVersion).result;
      } catch (e) {
        throw wrap(e, p, list, "add");
      }
    }
    if (!result) throw new CniError(CniCode.Internal, `network "${list.name}" produced no result`);
    try {
      this.cache.write(
        {
          containerID: rt.containerID,
          network: list.name,
          ifName: rt.ifName,
          config: list.bytes,
          netns: rt.netns,
          cniArgs: (rt.args ?? []).map(([k, v]) => [k, v]),
          capabilityArgs: { ...(rt.capabilityArgs ?? {}) },
        },
        result,
      );
    } catch (e) {
      throw new CniError(
        CniCode.IoFailure,
        `failed to set network "${list.name}" cached result: ${(e as Error).message}`,
      );
    }
    return result;
  }

  /** The cached result of an attachment in the list's version (undefined when none). */
  getCachedResult(list: NetworkConfigList, rt: Pick<RuntimeConf, "containerID" | "ifName">): AnyResult | undefined {
    return this.cache.readResult(list.name, rt.containerID, rt.ifName, list.cniVersion);
  }

  async checkNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    if (!specHas(list.cniVersion, "CHECK")) {
      throw new CniError(
        CniCode.IncompatibleCniVersion,
        `configuration version "${list.cniVersion}" does not support the CHECK command`,
      );
    }
    if (list.disableCheck) return;
    this.requireNetns(rt.netns);
    let cached: AnyResult | undefined;
    try {
      cached = this.getCachedResult(list, rt);
    } catch (e) {
      throw new CniError(
        CniCode.DecodingFailure,
        `failed to get network "${list.name}" cached result: ${(e as Error).message}`,
      );
    }
    for (const p of list.plugins) {
      const req = buildRequest({
        list,
        plugin: p,
        ...(cached ? { prevResult: cached } : {}),
        ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}),
      });
      await this.run("CHECK", p, req, rt);
    }
  }

  /** DEL in reverse order, each plugin given the cached result; the cache entry goes last. */
  async delNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    let cached: AnyResult | undefined;
    if (specHas(list.cniVersion, "CHECK")) {
      try {
        cached = this.getCachedResult(list, rt);
      } catch {
        this.cache.delete(list.name, rt.containerID, rt.ifName);
        cached = undefined;
      }
    }
    for (const p of [...list.plugins].reverse()) {
      const req = buildRequest({
        list,
        plugin: p,
        ...(cached ? { prevResult: cached } : {}),
        ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}),
      });
      try {
        await this.run("DEL", p, req, rt);
      } catch (e) {
        throw wrap(e, p, list, "delete");
      }
    }
    this.cache.delete(list.name, rt.containerID, rt.ifName);
  }

  /** The config and runtime args an attachment was made with (to replay a DEL exactly). */
  getCachedConfig(list: NetworkConfigList, rt: RuntimeConf): { config: Buffer; rt: RuntimeConf } | undefined {
    const e = this.cache.readEntry(list.name, rt.containerID, rt.ifName);
    if (!e) return undefined;
    return {
      config: e.config,
      rt: { ...rt, ...(e.cniArgs.length ? { args: e.cniArgs } : {}), capabilityArgs: e.capabilityArgs },
    };
  }

  getCachedAttachments(containerID?: string): CachedAttachment[] {
    return this.cache.list(containerID);
  }

  /** STATUS on each plugin in order (only for lists ≥ 1.1.0); the first error is returned as is. */
  async getStatusNetworkList(list: NetworkConfigList): Promise<void> {
    if (!specHas(list.cniVersion, "STATUS")) return;
    for (const p of list.plugins) await this.run("STATUS", p, buildRequest({ list, plugin: p, bare: true }), {});
  }

  /** The cached attachments of this network that are not in `valid`: what GC deletes. */
  staleAttachments(list: NetworkConfigList, valid: GcArgs["validAttachments"] = []): CachedAttachment[] {
    const keep = new Set(valid.map((a) => `${a.containerID}\0${a.ifname}`));
    return this.cache.list().filter((a) => a.network === list.name && !keep.has(`${a.containerID}\0${a.ifName}`));
  }

  /**
   * GC: DEL every cached attachment of this network that is not valid, then GC on each plugin
   * (≥ 1.1.0) with both attachment keys. Errors are collected; every step runs.
   */
  async gcNetworkList(list: NetworkConfigList, args?: GcArgs): Promise<void> {
    if (list.disableGC) return;
    const errors: string[] = [];
    for (const a of this.staleAttachments(list, args?.validAttachments)) {
      try {
        await this.delNetworkList(list, {
          containerID: a.containerID,
          netns: a.netns,
          ifName: a.ifName,
          args: a.cniArgs,
          capabilityArgs: a.capabilityArgs,
        });
        args?.onDeleted?.(a);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    if (specHas(list.cniVersion, "GC")) {
      const atts = (args?.validAttachments ?? []).map((a) => ({ containerID: a.containerID, ifname: a.ifname }));
      const inject = args ? { "cni.dev/valid-attachments": atts, "cni.dev/attachments": atts } : undefined;
      for (const p of list.plugins) {
        try {
          await this.run("GC", p, buildRequest({ list, plugin: p, bare: true, ...(inject ? { inject } : {}) }), {});
          args?.onPluginGc?.(p.type);
        } catch (e) {
          errors.push(`failed to GC plugin ${p.type}: ${(e as Error).message}`);
          args?.onPluginGc?.(p.type, e as Error);
        }
      }
    }
    if (errors.length) throw new CniError(CniCode.Internal, errors.join("; "));
  }

  /** VERSION of one plugin, with libcni's fallbacks for very old plugins. */
  async getVersionInfo(type: string): Promise<VersionInfo> {
    const path = findInPath(type, this.opts.path);
    const env = { ...this.env("VERSION", {}), CNI_NETNS: "dummy", CNI_IFNAME: "dummy", CNI_PATH: "dummy" };
    let out: Buffer;
    try {
      out = await execPlugin(
        this.deps,
        path,
        JSON.stringify({ cniVersion: "1.1.0" }),
        env,
        this.opts.timeoutMs ? { timeoutMs: this.opts.timeoutMs } : {},
      );
    } catch (e) {
      // Go's libcni compares the text too: a plugin older than VERSION says so only in words.
      if (e instanceof CniError && e.message === "unknown CNI_COMMAND: VERSION")
        return { cniVersion: "0.1.0", supportedVersions: ["0.1.0"] };
      throw e;
    }
    let o: unknown;
    try {
      o = readJson(out);
    } catch (e) {
      if (!(e instanceof JsonInputError)) throw e;
      throw new CniError(CniCode.DecodingFailure, `plugin ${type}: cannot decode VERSION answer: ${e.message}`);
    }
    const v = o as Record<string, unknown>;
    if (typeof v["cniVersion"] !== "string")
      throw new CniError(CniCode.DecodingFailure, `plugin ${type}: VERSION answer has no cniVersion`);
    if (Array.isArray(v["supportedVersions"]))
      return { cniVersion: v["cniVersion"], supportedVersions: v["supportedVersions"].map(String) };
    if (v["cniVersion"] === "0.2.0") return { cniVersion: "0.2.0", supportedVersions: ["0.1.0", "0.2.0"] };
    throw new CniError(CniCode.DecodingFailure, `plugin ${type}: VERSION answer has no supportedVersions`);
  }

  /** Checks every plugin exists and supports the list's version; returns the enabled capabilities. */
  async validateNetworkList(list: NetworkConfigList): Promise<string[]> {
    const errors: string[] = [];
    const caps = new Set<string>();
    const ver = list.cniVersion || "0.1.0";
    for (const p of list.plugins) {
      try {
        const info = await this.getVersionInfo(p.type);
        if (!info.supportedVersions.includes(ver))
          errors.push(`plugin ${p.type} does not support config version "${ver}"`);
      } catch (e) {
        errors.push((e as Error).message);
      }
      for (const c of p.capabilities) caps.add(c);
    }
    if (errors.length) throw new CniError(CniCode.InvalidNetworkConfig, errors.join("; "));
    return [...caps];
  }
}

function wrap(e: unknown, p: PluginConf, list: NetworkConfigList, op: "add" | "delete"): CniError {
  const err = e instanceof CniError ? e : new CniError(CniCode.Internal, (e as Error).message);
  return new CniError(err.code, `plugin type="${p.type}" name="${list.name}" failed (${op}): ${err.message}`, {
    details: err.details,
    cause: e,
  });
}
