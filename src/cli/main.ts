// The `podnet` command: one file per subcommand, loaded only when used.
import { argv, exitCode } from "node:process";
import { errorMessage } from "../util/error-message.js";

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(args: string[]): Promise<number> }> }> = {
  cni: { summary: "cnitool-compatible: add|check|del|status|gc|version NET NETNS", load: () => import("./cni.js") },
  node: { summary: "run the node network manager (--network-plugin=noop|cni|kubenet|<exec>)", load: () => import("./node.js") },
  pod: { summary: "add|del|status|list pods on a running `podnet node`", load: () => import("./pod.js") },
  demo: { summary: "a sandboxed kubenet node with three pods, live checks, clean teardown", load: () => import("./demo.js") },
  resident: { summary: "serve the plugins in-process to the resident-mode launchers (--socket PATH)", load: () => import("./resident.js") },
  cluster: { summary: "the cluster's nodes (nodes [--json]) and remove-node NAME, from etcd", load: () => import("./cluster.js") },
  install: { summary: "copy the CNI plugins into --cni-bin-dir DIR (default /opt/cni/bin)", load: () => import("./install.js") },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(10)} ${c.summary}`);
  return `usage: podnet <command> [args]\n\ncommands:\n${lines.join("\n")}\n`;
}

async function main(args: string[]): Promise<number> {
  const [cmd, ...rest] = args;
  if (!cmd || cmd === "-h" || cmd === "--help" || cmd === "help") {
    process.stdout.write(usage());
    return cmd ? 0 : 2;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    process.stderr.write(`podnet: unknown command "${cmd}"\n${usage()}`);
    return 2;
  }
  return (await c.load()).run(rest);
}

main(argv.slice(2)).then(
  (code) => {
    process.exitCode = code || exitCode || 0;
  },
  (e: unknown) => {
    process.stderr.write(`podnet: ${errorMessage(e)}\n`);
    process.exitCode = 1;
  },
);
