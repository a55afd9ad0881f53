// What a plugin implementation sees: the parsed invocation, and the functions it provides.
import type { AnyResult, JsonObject, Verb } from "../cni/index.js";

export interface CmdArgs {
  readonly command: Verb;
  readonly containerID: string;
  readonly netns: string;
  readonly ifName: string;
  /** Raw CNI_ARGS ("K=V;K=V"). */
  readonly args: string;
  /** CNI_PATH split into directories. */
  readonly path: readonly string[];
  /** The request bytes exactly as received (delegates get them unchanged). */
  readonly stdinData: Buffer;
  /** The request parsed as a JSON object. */
  readonly netconf: JsonObject;
  /** The request's cniVersion (0.1.0 when absent). */
  readonly cniVersion: string;
  /** The whole environment the plugin was started with (delegates inherit it). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Records the end of a named phase for PODNET_TRACE. */
  readonly trace: (phase: string) => void;
}

export interface PluginFuncs {
  add(args: CmdArgs): Promise<AnyResult>;
  del(args: CmdArgs): Promise<void>;
  check?(args: CmdArgs): Promise<void>;
  status?(args: CmdArgs): Promise<void>;
  gc?(args: CmdArgs): Promise<void>;
}

export interface PluginAbout {
  /** e.g. "bridge" — shown as "CNI bridge plugin podnet v0.1.0". */
  readonly name: string;
  readonly version?: string;
  readonly supportedVersions: readonly string[];
}

/** Everything the dispatcher needs from the outside world. */
export interface PluginIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readStdin(): Promise<Buffer>;
  writeStdout(text: string): void;
  writeStderr(text: string): void;
  /** True when `path` is the network namespace this process runs in (skel's ErrInvalidNetNS). */
  isOwnNetns?(path: string): boolean;
  /** Monotonic milliseconds, for PODNET_TRACE. */
  now?(): number;
}
