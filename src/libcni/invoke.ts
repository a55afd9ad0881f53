// Executing one plugin (libcni invoke): env + stdin in, stdout or a CNI error out.
import { CniCode, CniError, JsonInputError, errorFromWire, readJson } from "../cni/index.js";
import { type ExecResult, ExecStartError, type RawExec } from "../kernel/exec.js";

export interface InvokeDeps {
  readonly exec: RawExec;
  readonly sleep: (ms: number) => Promise<void>;
}

export interface InvokeOptions {
  /** Kill the plugin after this long (default 60 s). */
  readonly timeoutMs?: number;
  /** Where the plugin's stderr goes on success (libcni copies it to the runtime's stderr). */
  readonly onStderr?: (text: string) => void;
}

/** "text file busy" (a binary being replaced): libcni tries 6 times, 1 s apart. */
const TEXT_BUSY_TRIES = 6;

/**
 * Runs `pluginPath` with `env` and `stdin`; returns stdout on exit 0, throws a CniError built
 * as libcni does (the plugin's own error object when it printed one).
 */
export async function execPlugin(
  deps: InvokeDeps,
  pluginPath: string,
  stdin: string | Buffer,
  env: Readonly<Record<string, string | undefined>>,
  opts: InvokeOptions = {},
): Promise<Buffer> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  for (let attempt = 1; ; attempt++) {
    let r: ExecResult;
    try {
      r = await deps.exec.run(pluginPath, [], { env, stdin, timeoutMs });
    } catch (e) {
      if (e instanceof ExecStartError) {
        if (e.errno === "ETXTBSY" && attempt < TEXT_BUSY_TRIES) {
          await deps.sleep(1000);
          continue;
        }
        const code = e.errno === "ENOENT" ? CniCode.PluginNotAvailable : CniCode.Internal;
        throw new CniError(code, `failed to start plugin ${pluginPath}: ${e.errno}`, { details: e.message, cause: e });
      }
      throw e;
    }
    const stdout = r.stdout;
    const stderr = r.stderr.toString("utf8").trim();
    if (r.timedOut) {
      throw new CniError(CniCode.Internal, `plugin ${pluginPath} timed out after ${timeoutMs} ms and was killed`, {
        ...(stderr ? { details: stderr } : {}),
      });
    }
    if (r.code === 0) {
      if (stderr && opts.onStderr) opts.onStderr(`${stderr}\n`);
      return stdout;
    }
    const why = r.code === null ? `signal: ${r.signal}` : `exit status ${r.code}`;
    const out = stdout.toString("utf8").trim();
    if (out === "") {
      if (stderr === "") throw new CniError(CniCode.Internal, `netplugin failed with no error message: ${why}`);
      throw new CniError(CniCode.Internal, `netplugin failed: "${stderr}": ${why}`);
    }
    let parsed: unknown;
    try {
      parsed = readJson(out);
    } catch (e) {
      if (!(e instanceof JsonInputError)) throw e;
      throw new CniError(
        CniCode.DecodingFailure,
        `netplugin failed but error parsing its diagnostic message "${out}": ${e.message}`,
      );
    }
    const err = errorFromWire(parsed);
    if (!err)
      throw new CniError(
        CniCode.DecodingFailure,
        `netplugin failed but error parsing its diagnostic message "${out}": not a CNI error object`,
      );
    throw err;
  }
}
