// What a plugin implementation sees: the parsed invocation, and the functions it provides.
import { CniError, type AnyResult, type JsonObject, type Verb } from "../cni/index.js";

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
  /**
   * Answer every failure of ADD, DEL and CHECK as the Go reference plugin of the same name does:
   * Go's plugins fail with plain errors, which skel prints as code 999 with the error's text and no
   * details. A RelayedError (a delegated plugin's own answer) keeps its code, msg and details.
   */
  readonly plainErrors?: boolean;
}

/** The error a delegated plugin printed, handed on as it is (Go's invoke returns it typed). */
export class RelayedError extends CniError {
  override name = "RelayedError";
  static from(e: CniError): RelayedError {
    return new RelayedError(e.code, e.message, { details: e.details, cause: e });
  }
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
