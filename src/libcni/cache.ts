// The result cache, byte-compatible with Go libcni: <cacheDir>/results/<net>-<cid>-<ifname>
// holding {"kind":"cniCacheV1",...}, so podnet and Go runtimes can take over each other's attachments.
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  CniCode,
  CniError,
  MAX_JSON_BYTES,
  convertResult,
  isObject,
  parseResult,
  readJson,
  resultToJSON,
  type AnyResult,
  type JsonObject,
} from "../cni/index.js";
import { goJSON } from "../cni/gojson.js";
import { BoundedReadError, readFileBounded } from "../kernel/read-bounded.js";
import { writeFileAtomicSync } from "../util/atomic-write.js";

export const DEFAULT_CACHE_DIR = "/var/lib/cni";

export interface CachedAttachment {
  readonly containerID: string;
  readonly network: string;
  readonly ifName: string;
  /** The network config bytes the attachment was made with. */
  readonly config: Buffer;
  readonly netns: string;
  readonly cniArgs: Array<[string, string]>;
  readonly capabilityArgs: JsonObject;
  /** The final ADD result as JSON in its own version, if any. */
  readonly rawResult?: JsonObject;
}

export function cacheFilePath(cacheDir: string, network: string, containerID: string, ifName: string): string {
  if (!network || !containerID || !ifName) {
    throw new CniError(
      CniCode.Internal,
      `cache file path requires network name (${JSON.stringify(network)}), container ID (${JSON.stringify(containerID)}), and interface name (${JSON.stringify(ifName)})`,
    );
  }
  return join(cacheDir, "results", `${network}-${containerID}-${ifName}`);
}

/** The file's bytes, in Go's field order and encoding. */
export function encodeCacheEntry(a: CachedAttachment): string {
  return goJSON(
    {
      kind: "cniCacheV1",
      containerId: a.containerID,
      config: a.config.toString("base64"),
      ifName: a.ifName,
      networkName: a.network,
      netns: a.netns || undefined,
      cniArgs: a.cniArgs.length ? a.cniArgs : undefined,
      capabilityArgs: Object.keys(a.capabilityArgs).length ? a.capabilityArgs : undefined,
      result: a.rawResult,
    },
    true,
  );
}

/** Parses a cache file; undefined when it is not a cniCacheV1 entry. */
export function decodeCacheEntry(bytes: Buffer | string): CachedAttachment | undefined {
  let o: unknown;
  try {
    o = readJson(bytes);
  } catch {
    return undefined;
  }
  if (!isObject(o) || o["kind"] !== "cniCacheV1") return undefined;
  const s = (k: string) => (typeof o[k] === "string" ? (o[k] as string) : "");
  const args = Array.isArray(o["cniArgs"]) ? (o["cniArgs"] as unknown[]) : [];
  return {
    containerID: s("containerId"),
    network: s("networkName"),
    ifName: s("ifName"),
    config: Buffer.from(s("config"), "base64"),
    netns: s("netns"),
    cniArgs: args
      .filter((p): p is [string, string] => Array.isArray(p) && p.length === 2)
      .map(([k, v]) => [String(k), String(v)]),
    capabilityArgs: isObject(o["capabilityArgs"]) ? o["capabilityArgs"] : {},
    ...(isObject(o["result"]) ? { rawResult: o["result"] } : {}),
  };
}

export class ResultCache {
  readonly dir: string;
  constructor(dir: string = DEFAULT_CACHE_DIR) {
    this.dir = dir;
  }

  /** Written after every plugin of an ADD succeeded: atomically (util/atomic-write.ts), dir 0700, file 0600. */
  write(entry: Omit<CachedAttachment, "rawResult">, result: AnyResult): void {
    const path = cacheFilePath(this.dir, entry.network, entry.containerID, entry.ifName);
    mkdirSync(join(this.dir, "results"), { recursive: true, mode: 0o700 });
    writeFileAtomicSync(path, encodeCacheEntry({ ...entry, rawResult: resultToJSON(result) }), { mode: 0o600 });
  }

  /** The raw entry, or undefined when the file is missing or unreadable. */
  readEntry(network: string, containerID: string, ifName: string): CachedAttachment | undefined {
    let bytes: Buffer;
    try {
      bytes = readFileBounded(cacheFilePath(this.dir, network, containerID, ifName), MAX_JSON_BYTES);
    } catch (e) {
      if (e instanceof BoundedReadError)
        throw new CniError(
          CniCode.DecodingFailure,
          `failed to read cached result for ${network}-${containerID}-${ifName}: ${e.message}`,
        );
      return undefined;
    }
    const e = decodeCacheEntry(bytes);
    if (e) return e;
    // Legacy (libcni 0.7) files hold only the result JSON.
    try {
      const legacy: unknown = readJson(bytes);
      if (isObject(legacy)) {
        return {
          containerID,
          network,
          ifName,
          config: Buffer.alloc(0),
          netns: "",
          cniArgs: [],
          capabilityArgs: {},
          rawResult: legacy,
        };
      }
    } catch {
      // fall through
    }
    throw new CniError(
      CniCode.DecodingFailure,
      `failed to parse cached result for ${network}-${containerID}-${ifName}`,
    );
  }

  /** The cached result converted to `version`; undefined when there is none. */
  readResult(network: string, containerID: string, ifName: string, version: string): AnyResult | undefined {
    const e = this.readEntry(network, containerID, ifName);
    if (!e?.rawResult) return undefined;
    const { result } = parseResult(e.rawResult, version);
    try {
      return convertResult(result, version);
    } catch (err) {
      throw new CniError(
        CniCode.DecodingFailure,
        `failed to convert cached result to config version "${version}": ${(err as Error).message}`,
      );
    }
  }

  delete(network: string, containerID: string, ifName: string): void {
    rmSync(cacheFilePath(this.dir, network, containerID, ifName), { force: true });
  }

  /** Every cached attachment (optionally of one container), sorted by file name. */
  list(containerID?: string): CachedAttachment[] {
    let names: string[];
    try {
      names = readdirSync(join(this.dir, "results")).sort();
    } catch {
      return [];
    }
    const out: CachedAttachment[] = [];
    for (const n of names) {
      if (containerID && n.indexOf(`-${containerID}-`) < 1) continue;
      let e: CachedAttachment | undefined;
      try {
        e = decodeCacheEntry(readFileBounded(join(this.dir, "results", n), MAX_JSON_BYTES));
      } catch {
        continue;
      }
      if (!e?.ifName || !e.network) continue;
      if (containerID && e.containerID !== containerID) continue;
      out.push(e);
    }
    return out;
  }
}
