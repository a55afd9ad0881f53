// The plugin skeleton (Go's pkg/skel): environment + stdin → verb → stdout + exit code.
// Never touches `process`; main.ts supplies a PluginIo.
import {
  ALL_SPEC_VERSIONS,
  CniCode,
  CniError,
  CURRENT_VERSION,
  convertResult,
  decodeConfVersion,
  JsonInputError,
  readJsonObject,
  resultToJSON,
  specHas,
  toCniError,
  validateContainerID,
  validateEnvValue,
  validateIfName,
  validateNetworkName,
  type JsonObject,
  type Verb,
} from "../cni/index.js";
import type { CmdArgs, PluginAbout, PluginFuncs, PluginIo } from "./types.js";

const VERBS: readonly Verb[] = ["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"];

/** The CNI_* variables whose values become names and paths in system calls. */
const PATH_VARS = ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH", "CNI_ARGS"] as const;

/** What skel actually requires per verb (a superset of the spec: CNI_PATH everywhere but VERSION). */
const REQUIRED: Readonly<Record<Verb, readonly string[]>> = {
  ADD: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  DEL: ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
  CHECK: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  STATUS: ["CNI_PATH"],
  GC: ["CNI_PATH"],
  VERSION: [],
};

export const allVersions = ALL_SPEC_VERSIONS;

export function aboutText(about: PluginAbout): string {
  return `CNI ${about.name} plugin podnet v${about.version ?? "0.1.0"}\nCNI protocol versions supported: ${about.supportedVersions.join(", ")}\n`;
}

export function versionInfo(about: PluginAbout): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion: CURRENT_VERSION, supportedVersions: [...about.supportedVersions] };
}

function checkVersion(command: Verb, v: string, about: PluginAbout): void {
  if (!specHas(v, command)) {
    throw new CniError(CniCode.IncompatibleCniVersion, `config version does not allow ${command}`, {
      details: `config is "${v}", ${command} needs ≥ ${command === "CHECK" ? "0.4.0" : "1.1.0"}`,
    });
  }
  if (!about.supportedVersions.includes(v)) {
    throw new CniError(CniCode.IncompatibleCniVersion, "incompatible CNI versions", {
      details: `config is "${v}", plugin supports ${JSON.stringify(about.supportedVersions)}`,
    });
  }
}

/** Runs one plugin invocation; returns the exit code (never calls process.exit). */
export async function dispatch(io: PluginIo, funcs: PluginFuncs, about: PluginAbout): Promise<number> {
  const env = io.env;
  const now = io.now ?? (() => 0);
  const t0 = now();
  const traceOn = env["PODNET_TRACE"] === "1";
  const marks: Array<[string, number]> = [];
  let last = t0;
  if (traceOn) marks.push(["startup", t0]);
  const trace = (phase: string) => {
    if (!traceOn) return;
    const t = now();
    marks.push([phase, t - last]);
    last = t;
  };
  let cniVersion = "";
  const command = env["CNI_COMMAND"] ?? "";
  try {
    if (command === "") {
      io.writeStderr(aboutText(about));
      return 0;
    }
    if (!(VERBS as readonly string[]).includes(command)) {
      throw new CniError(CniCode.InvalidEnvironmentVariables, `unknown CNI_COMMAND: ${command}`);
    }
    const verb = command as Verb;
    if (verb === "VERSION") {
      io.writeStdout(JSON.stringify(versionInfo(about)) + "\n");
      return 0;
    }
    const missing = REQUIRED[verb].filter((k) => !env[k]);
    if (missing.length) {
      throw new CniError(CniCode.InvalidEnvironmentVariables, `required env variables [${missing.join(",")}] missing`);
    }
    for (const k of PATH_VARS) validateEnvValue(k, env[k] ?? "");
    if (verb === "ADD" || verb === "DEL" || verb === "CHECK") {
      validateContainerID(env["CNI_CONTAINERID"] ?? "");
      validateIfName(env["CNI_IFNAME"] ?? "");
    }
    let stdinData: Buffer;
    try {
      stdinData = await io.readStdin();
    } catch (e) {
      throw new CniError(CniCode.IoFailure, `error reading from stdin: ${(e as Error).message}`);
    }
    let netconf: JsonObject;
    try {
      // Bounded (size, depth) and plain data: see src/cni/json.ts.
      netconf = readJsonObject(stdinData);
    } catch (e) {
      if (!(e instanceof JsonInputError)) throw e;
      throw new CniError(CniCode.DecodingFailure, `error unmarshall network config: ${e.message}`);
    }
    const name = netconf["name"];
    validateNetworkName(typeof name === "string" ? name : "");
    cniVersion = decodeConfVersion(netconf);
    checkVersion(verb, cniVersion, about);
    const netns = env["CNI_NETNS"] ?? "";
    const override = /^(1|true)$/i.test(env["CNI_NETNS_OVERRIDE"] ?? "");
    if ((verb === "ADD" || verb === "DEL") && netns && !override && io.isOwnNetns?.(netns)) {
      throw new CniError(CniCode.InvalidNetNs, "plugin's netns and netns from CNI_NETNS should not be the same");
    }
    const args: CmdArgs = {
      command: verb,
      containerID: env["CNI_CONTAINERID"] ?? "",
      netns,
      ifName: env["CNI_IFNAME"] ?? "",
      args: env["CNI_ARGS"] ?? "",
      path: (env["CNI_PATH"] ?? "").split(":").filter((d) => d !== ""),
      stdinData,
      netconf,
      cniVersion,
      env,
      trace,
    };
    trace("parse");
    switch (verb) {
      case "ADD": {
        const result = await funcs.add(args);
        const out = convertResult(result, cniVersion);
        io.writeStdout(JSON.stringify(resultToJSON(out), null, 4));
        break;
      }
      case "DEL":
        await funcs.del(args);
        break;
      case "CHECK":
        if (funcs.check) await funcs.check(args);
        else throw new CniError(CniCode.Internal, `the ${about.name} plugin does not implement CHECK`);
        break;
      case "STATUS":
        await funcs.status?.(args);
        break;
      case "GC":
        await funcs.gc?.(args);
        break;
    }
    return 0;
  } catch (e) {
    const err = toCniError(e);
    io.writeStdout(JSON.stringify(err.toWire(cniVersion || undefined), null, 4));
    return 1;
  } finally {
    if (traceOn) {
      trace("done");
      const total = now() - t0;
      io.writeStderr(
        `podnet trace ${about.name} ${command}: ${marks.map(([p, ms]) => `${p}=${ms.toFixed(2)}ms`).join(" ")} total=${total.toFixed(2)}ms\n`,
      );
    }
  }
}
