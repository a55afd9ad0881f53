// The plugin skeleton (Go's pkg/skel): environment + stdin → verb → stdout + exit code.
// Never touches `process`; main.ts supplies a PluginIo.
import {
  ALL_SPEC_VERSIONS,
  CniCode,
  CniError,
  compareVersions,
  CURRENT_VERSION,
  decodeConfVersion,
  goSyntaxError,
  isObject,
  JsonInputError,
  printResult,
  readJson,
  toCniError,
  validateContainerID,
  validateEnvValue,
  validateIfName,
  validateNetworkName,
  VERB_SINCE,
  type JsonObject,
  type Verb,
} from "../cni/index.js";
import { goDecodeStringField, goMarshalIndent, goStrconvQuote, goStrconvQuoteList } from "../cni/gojson.js";
import { RelayedError, type CmdArgs, type PluginAbout, type PluginFuncs, type PluginIo } from "./types.js";
import { noTimer, phaseTimer } from "../util/phase-timer.js";

const VERBS: readonly Verb[] = ["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"];

/** The CNI_* variables whose values become names and paths in system calls. */
const PATH_VARS = ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH", "CNI_ARGS"] as const;

/**
 * What skel requires per verb: v1.1.1's list for ADD/DEL/CHECK (CNI_PATH everywhere, CNI_NETNS
 * not for DEL), v1.2's for the spec 1.1.0 verbs STATUS and GC; nothing for VERSION or unknown verbs.
 */
const REQUIRED: Readonly<Record<string, readonly string[]>> = {
  ADD: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  DEL: ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
  CHECK: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  STATUS: ["CNI_PATH"],
  GC: ["CNI_PATH"],
};

/** How Go prints the struct skel decodes a config's name into (in its error texts). */
const NAME_STRUCT = 'struct { Name string "json:\\"name\\"" }';

export const allVersions = ALL_SPEC_VERSIONS;

export function aboutText(about: PluginAbout): string {
  return `CNI ${about.name} plugin podnet v${about.version ?? "0.1.0"}\nCNI protocol versions supported: ${about.supportedVersions.join(", ")}\n`;
}

export function versionInfo(about: PluginAbout): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion: CURRENT_VERSION, supportedVersions: [...about.supportedVersions] };
}

/**
 * skel's validateConfig: well-formed JSON whose "name" is a valid network name, with Go's texts.
 * The document is read bounded (src/cni/json.ts); what the bounded reader refuses is told in
 * encoding/json's words when Go refuses it too (bad syntax, nesting beyond Go's 10,000), and in
 * the reader's own otherwise (the size limit, nesting between its limit and Go's).
 */
function validateConfig(stdin: Buffer): JsonObject {
  let doc: unknown;
  try {
    doc = readJson(stdin);
  } catch (e) {
    if (!(e instanceof JsonInputError)) throw e;
    const go = e.offset < 0 ? undefined : goSyntaxError(stdin);
    throw new CniError(CniCode.DecodingFailure, `error unmarshall network config: ${go ?? e.message}`);
  }
  const name = goDecodeStringField(doc, "name", NAME_STRUCT);
  if ("error" in name) throw new CniError(CniCode.DecodingFailure, `error unmarshall network config: ${name.error}`);
  validateNetworkName(name.value);
  // Go decodes a JSON null into the struct as if it were {}.
  return isObject(doc) ? doc : Object.create(null);
}

/** skel's checkVersionAndCall: the config's version must be one the plugin lists, word for word. */
function checkSupported(v: string, about: PluginAbout): void {
  if (!about.supportedVersions.includes(v)) {
    throw new CniError(CniCode.IncompatibleCniVersion, "incompatible CNI versions", {
      details: `config is ${goStrconvQuote(v)}, plugin supports ${goStrconvQuoteList(about.supportedVersions)}`,
    });
  }
}

/** skel's gate for the verbs added after 0.1.0 (CHECK; STATUS and GC as skel v1.2 has them). */
function checkVerbVersion(verb: "CHECK" | "STATUS" | "GC", v: string, about: PluginAbout): void {
  const since = VERB_SINCE[verb];
  if (compareVersions(v, since) < 0)
    throw new CniError(CniCode.IncompatibleCniVersion, `config version does not allow ${verb}`);
  if (!about.supportedVersions.some((p) => compareVersions(p, v) >= 0)) {
    throw new CniError(CniCode.IncompatibleCniVersion, `plugin version does not allow ${verb}`);
  }
  checkSupported(v, about);
}

/**
 * A failure as Go's skel reports a plain error: code 999, the error's whole text (msg; details)
 * as msg. An error relayed from a delegated plugin stays as it is (Go's invoke returns it typed).
 */
function plainError(e: unknown): CniError {
  if (e instanceof RelayedError) return e;
  const err = toCniError(e);
  return err.code === CniCode.Internal && !err.details
    ? err
    : new CniError(CniCode.Internal, err.toString(), { cause: e });
}

async function callPlugin(
  verb: Verb,
  args: CmdArgs,
  funcs: PluginFuncs,
  about: PluginAbout,
  io: PluginIo,
): Promise<void> {
  switch (verb) {
    case "ADD": {
      const result = await funcs.add(args);
      let text: string;
      try {
        text = printResult(result, args.cniVersion);
      } catch (e) {
        // Go's PrintResult fails with a plain error, which skel reports as 999.
        throw new CniError(CniCode.Internal, (e as Error).message, { cause: e });
      }
      io.writeStdout(text);
      return;
    }
    case "DEL":
      return funcs.del(args);
    case "CHECK":
      if (!funcs.check) throw new CniError(CniCode.Internal, `the ${about.name} plugin does not implement CHECK`);
      return funcs.check(args);
    case "STATUS":
      return funcs.status?.(args);
    case "GC":
      return funcs.gc?.(args);
  }
}

/** Runs one plugin invocation; returns the exit code (never calls process.exit). */
export async function dispatch(io: PluginIo, funcs: PluginFuncs, about: PluginAbout): Promise<number> {
  const env = io.env;
  const now = io.now ?? (() => 0);
  const timer = env["PODNET_TRACE"] === "1" ? phaseTimer(now) : noTimer;
  timer.add("startup", now()); // io.now counts from the process's start
  const trace = (phase: string) => timer.mark(phase);
  const command = env["CNI_COMMAND"] ?? "";
  try {
    // The order of skel v1.1.1: environment, stdin, config (JSON, name), container ID, ifname, verb.
    if (command === "") {
      io.writeStderr(aboutText(about));
      return 0;
    }
    const missing = (REQUIRED[command] ?? []).filter((k) => !env[k]);
    if (missing.length) {
      throw new CniError(CniCode.InvalidEnvironmentVariables, `required env variables [${missing.join(",")}] missing`);
    }
    // podnet's own: a NUL would cut a name or path short in every system call (Go never sees one,
    // as execve cannot pass it; the resident protocol can).
    for (const k of PATH_VARS) validateEnvValue(k, env[k] ?? "");
    if (command === "VERSION") {
      io.writeStdout(`${JSON.stringify(versionInfo(about))}\n`);
      return 0;
    }
    let stdinData: Buffer;
    try {
      stdinData = await io.readStdin();
    } catch (e) {
      throw new CniError(CniCode.IoFailure, `error reading from stdin: ${(e as Error).message}`);
    }
    const netconf = validateConfig(stdinData);
    // STATUS and GC (spec 1.1.0, skel v1.2) have no container; every other verb, known or not, does.
    if (command !== "STATUS" && command !== "GC") {
      validateContainerID(env["CNI_CONTAINERID"] ?? "");
      validateIfName(env["CNI_IFNAME"] ?? "");
    }
    if (!(VERBS as readonly string[]).includes(command)) {
      throw new CniError(CniCode.InvalidEnvironmentVariables, `unknown CNI_COMMAND: ${command}`);
    }
    const verb = command as Verb;
    const cniVersion = decodeConfVersion(netconf);
    if (verb === "ADD" || verb === "DEL") checkSupported(cniVersion, about);
    else checkVerbVersion(verb as "CHECK" | "STATUS" | "GC", cniVersion, about);
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
    try {
      await callPlugin(verb, args, funcs, about, io);
    } catch (e) {
      throw about.plainErrors && (verb === "ADD" || verb === "DEL" || verb === "CHECK") ? plainError(e) : e;
    }
    return 0;
  } catch (e) {
    io.writeStdout(goMarshalIndent(toCniError(e).toWire()));
    return 1;
  } finally {
    if (timer !== noTimer) {
      timer.mark("done");
      io.writeStderr(`${timer.line(`${about.name} ${command}`)}\n`);
    }
  }
}
