// The `podnet` command: one file per subcommand (commands.ts), loaded only when used.
import { argv } from "node:process";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, exitCodes } from "./args.js";
import { COMMANDS, commandNamed } from "./commands.js";
import { errorMessage } from "../util/error-message.js";

export function usage(): string {
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(11)} ${c.summary}`);
  return (
    `usage: podnet <command> [args]\n` +
    `       podnet <command> --help\n` +
    `       podnet --version\n\n` +
    `commands:\n${lines.join("\n")}\n` +
    exitCodes({ more: ["3  podnet pod: the pod is not there"] })
  );
}

/**
 * A reader that goes away (`podnet … | head -1`) is not an error: output stops, the command
 * finishes its work, and nothing (no stack trace) is printed about it.
 */
function ignoreClosedPipes(): void {
  for (const s of [process.stdout, process.stderr]) {
    s.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE" || e.code === "ERR_STREAM_DESTROYED") return;
      throw e;
    });
  }
}

async function main(args: string[]): Promise<number> {
  const [cmd, ...rest] = args;
  if (cmd === undefined) {
    process.stderr.write(usage());
    return EXIT_USAGE;
  }
  if (cmd === "-h" || cmd === "--help") {
    process.stdout.write(usage());
    return EXIT_OK;
  }
  if (cmd === "help") {
    // `podnet help CMD` is `podnet CMD --help`
    if (rest[0] === undefined) {
      process.stdout.write(usage());
      return EXIT_OK;
    }
    const c = commandNamed(rest[0]);
    if (!c) {
      process.stderr.write(`podnet help: unknown command "${rest[0]}"\n${usage()}`);
      return EXIT_USAGE;
    }
    return (await c.load()).run(["--help"]);
  }
  if (cmd === "--version" || cmd === "-v") return (await import("./version.js")).run(rest);
  const c = commandNamed(cmd);
  if (!c) {
    process.stderr.write(`podnet: unknown command "${cmd}"\n${usage()}`);
    return EXIT_USAGE;
  }
  return (await c.load()).run(rest);
}

ignoreClosedPipes();
main(argv.slice(2)).then(
  (code) => {
    process.exitCode = code || process.exitCode || 0;
  },
  (e: unknown) => {
    process.stderr.write(`podnet: ${errorMessage(e)}\n`);
    process.exitCode = EXIT_FAILURE;
  },
);
