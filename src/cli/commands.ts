// The `podnet` commands: what main.ts dispatches to (each loaded only when used) and what the
// shell completion offers. A command's flags here are the ones its --help lists (a unit test
// holds the two together).

import type { CommandSpec, FlagSpec, FlagValue } from "./command-spec.js";

const f = (name: string, value?: FlagValue): FlagSpec => (value === undefined ? { name } : { name, value });

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "install",
    summary: "install the CNI plugins (resident launchers by default), systemd units and optionally a conflist",
    flags: () => [
      f("cni-bin-dir", "dir"),
      f("exec"),
      f("from", "dir"),
      f("systemd-dir", "dir"),
      f("no-systemd"),
      f("cni-socket", "file"),
      f("node-arg", "text"),
      f("conflist"),
      f("cni-conf-dir", "dir"),
      f("pod-cidr", "text"),
      f("network-name", "text"),
      f("state-dir", "dir"),
      f("force"),
      f("dry-run"),
    ],
    load: () => import("./install.js"),
  },
  {
    name: "uninstall",
    summary: "remove exactly what `podnet install` wrote (its manifest), restoring what it replaced",
    flags: () => [f("state-dir", "dir"), f("force"), f("dry-run")],
    load: () => import("./uninstall.js"),
  },
  {
    name: "node",
    summary: "run the node network manager (--network-plugin=noop|cni|kubenet|<exec>)",
    flags: async () =>
      Object.keys((await import("../netmgr/daemon/options.js")).NODE_FLAGS).map((k) =>
        f(k, k === "config" ? "file" : "text"),
      ),
    load: () => import("./node.js"),
  },
  {
    name: "resident",
    summary: "serve the plugins in-process to the resident-mode launchers (--socket PATH)",
    flags: () => [
      f("socket", "file"),
      f("socket-group", "text"),
      f("metrics-bind-address", "text"),
      f("log-level", ["debug", "info", "warn", "error"]),
      f("workers", "text"),
    ],
    load: () => import("./resident.js"),
  },
  {
    name: "pod",
    summary: "add|del|status|list pods on a running `podnet node`",
    subcommands: ["add", "del", "status", "list"],
    flags: () => [f("file", "file"), f("netns", "file"), f("socket", "file"), f("json")],
    load: () => import("./pod.js"),
  },
  {
    name: "cni",
    summary: "cnitool-compatible: add|check|del|status|gc|version NET NETNS",
    subcommands: ["add", "check", "del", "status", "gc", "version"],
    flags: () => [f("valid-attachment", "text"), f("valid-attachments-file", "file"), f("all"), f("dry-run")],
    load: () => import("./cni.js"),
  },
  {
    name: "ipam",
    summary: "list|release host-local leases (--data-dir, default /var/lib/cni/networks)",
    subcommands: ["list", "release"],
    flags: () => [f("data-dir", "dir"), f("cni-conf-dir", "dir"), f("ifname", "text"), f("json")],
    load: () => import("./ipam.js"),
  },
  {
    name: "cluster",
    summary: "the cluster's nodes (nodes [--json]) and remove-node NAME, from etcd",
    subcommands: ["nodes", "remove-node"],
    flags: () => [
      f("etcd-endpoints", "text"),
      f("etcd-prefix", "text"),
      f("etcd-cafile", "file"),
      f("etcd-certfile", "file"),
      f("etcd-keyfile", "file"),
      f("socket", "file"),
      f("json"),
    ],
    load: () => import("./cluster.js"),
  },
  {
    name: "demo",
    summary: "a sandboxed kubenet node with three pods (or --nodes N: a cluster), live checks, clean teardown",
    flags: () => [f("plugins", ["podnet", "go"]), f("pod-cidr", "text"), f("nodes", "text"), f("no-color")],
    load: () => import("./demo.js"),
  },
  {
    name: "version",
    summary: "podnet's version, git commit, Node version and CNI spec versions",
    flags: () => [f("json")],
    load: () => import("./version.js"),
  },
  {
    name: "completion",
    summary: "a shell completion script: completion bash|zsh",
    subcommands: ["bash", "zsh"],
    flags: () => [],
    // the completion reads this table: handed to it, so that it need not import it
    load: async () => {
      const completion = await import("./completion.js");
      return { run: (args: string[]) => completion.run(args, COMMANDS) };
    },
  },
];

export const commandNamed = (name: string): CommandSpec | undefined => COMMANDS.find((c) => c.name === name);
