// The SDK's example: a chained plugin that checks one config field and passes prevResult on.
// Copy this file to start a plugin: config type, parseConfig, cmdAdd, cmdDel, cmdCheck.
import * as v from "valibot";
import { parseWith } from "../../cni/index.js";
import { allVersions, requirePrevResult, type CmdArgs, type PluginAbout, type PluginFuncs } from "../../sdk/index.js";

const SampleConf = v.looseObject({
  name: v.string(),
  anotherAwesomeArg: v.pipe(v.string(), v.nonEmpty("must not be empty")),
});
export type SampleConf = v.InferOutput<typeof SampleConf>;

export const parseConfig = (args: CmdArgs): SampleConf => parseWith(SampleConf, args.netconf, "sample config");

export function cmdAdd(args: CmdArgs) {
  parseConfig(args);
  return Promise.resolve(requirePrevResult(args.netconf, args.cniVersion));
}

export async function cmdDel(args: CmdArgs): Promise<void> {
  parseConfig(args);
}

export async function cmdCheck(args: CmdArgs): Promise<void> {
  parseConfig(args);
  requirePrevResult(args.netconf, args.cniVersion);
}

export const SAMPLE_ABOUT: PluginAbout = { name: "sample", supportedVersions: allVersions };
export const samplePlugin: PluginFuncs = { add: cmdAdd, del: cmdDel, check: cmdCheck };
