// What every `podnet` subcommand does with its arguments: `--help` prints the usage on stdout
// (exit 0); a usage error prints the message and the usage on stderr (exit 2). Every usage ends
// with the exit codes.
import { parseArgs, type ParseArgsConfig } from "node:util";

/** Exit codes shared by every command. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * The exit-code section of a usage text: `failure` says what 1 means for the command (default: the
 * error is on stderr); `more` adds the command's own codes ("3  the pod is not there").
 */
export function exitCodes(o: { failure?: string; more?: readonly string[] } = {}): string {
  const more = (o.more ?? []).map((l) => `  ${l}\n`).join("");
  return `\nexit codes:\n  0  success\n  1  ${o.failure ?? "failure: the error is on stderr"}\n  2  usage error: the usage is on stderr\n${more}`;
}

export type ParsedArgs<O extends NonNullable<ParseArgsConfig["options"]>> = {
  values: {
    [K in keyof O]?: O[K] extends { type: "boolean" }
      ? O[K] extends { multiple: true }
        ? boolean[]
        : boolean
      : O[K] extends { multiple: true }
        ? string[]
        : string;
  };
  positionals: string[];
};

/** Writes to the CLI's streams (injected in tests). */
export interface CliOut {
  stdout(s: string): void;
  stderr(s: string): void;
}

export const processOut: CliOut = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
};

/**
 * parseArgs with podnet's conventions (strict; `-h`/`--help` added). Returns the parsed values, or
 * the exit code when the command should stop here (help printed: 0; usage error printed: 2).
 */
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig["options"]>>(
  command: string,
  usage: string,
  args: readonly string[],
  options: O,
  o: { positionals?: boolean; out?: CliOut } = {},
): ParsedArgs<O> | number {
  const out = o.out ?? processOut;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...args],
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: o.positionals ?? false,
      strict: true,
    });
  } catch (e) {
    // A --help anywhere wins over a bad flag elsewhere.
    if (args.includes("--help") || args.includes("-h")) {
      out.stdout(usage);
      return EXIT_OK;
    }
    return usageError(command, (e as Error).message, usage, out);
  }
  if ((parsed.values as { help?: boolean }).help) {
    out.stdout(usage);
    return EXIT_OK;
  }
  return parsed as unknown as ParsedArgs<O>;
}

/** Prints `podnet <command>: <message>` and the usage on stderr; returns 2. */
export function usageError(command: string, message: string, usage: string, out: CliOut = processOut): number {
  out.stderr(`podnet ${command}: ${message}\n${usage}`);
  return EXIT_USAGE;
}
