import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  execLine,
  execStartOf,
  NODE_UNIT,
  parseExecStart,
  RESIDENT_UNIT,
  systemdQuote,
  systemdUnits,
  UnitError,
} from "./units.js";

describe("systemd command lines", () => {
  const hard = [
    "/opt/my node/bin/node",
    "100%",
    "$HOME",
    'say "hi"',
    "back\\slash",
    "tab\there",
    "new\nline",
    "it's",
    "",
    ";",
    "plain-word=/a/b.c",
  ];
  it("quotes what systemd would otherwise split, expand or unescape, and reads it back", () => {
    assert.equal(systemdQuote("/usr/bin/node"), "/usr/bin/node");
    assert.equal(systemdQuote("--cni-socket=/run/podnet/cni.sock"), "--cni-socket=/run/podnet/cni.sock");
    assert.equal(systemdQuote("100%"), '"100%%"');
    assert.equal(systemdQuote("$HOME"), '"$$HOME"');
    assert.equal(systemdQuote("a b"), '"a b"');
    assert.deepEqual(parseExecStart(execLine(hard)), hard);
  });
  it("reads systemd's own forms: single quotes, escapes, runs of spaces", () => {
    assert.deepEqual(parseExecStart(`/bin/x  'a b'  "c\\"d" e\\sf %% $$`), ["/bin/x", "a b", 'c"d', "e f", "%", "$"]);
  });
  it("refuses what podnet's units never use", () => {
    assert.throws(() => parseExecStart("/bin/x %n"), UnitError);
    assert.throws(() => parseExecStart("/bin/x $FOO"), UnitError);
    assert.throws(() => parseExecStart('/bin/x "open'), /unterminated quote/);
    assert.throws(() => parseExecStart("-/bin/x"), /prefixes/);
    assert.throws(() => systemdQuote("a\0b"), /NUL/);
  });
});

describe("the units", () => {
  const units = systemdUnits({
    node: "/usr/local/node 20/bin/node",
    cli: "/opt/podnet/bin/podnet",
    cniSocket: "/run/podnet/cni.sock",
    nodeArgs: ["--network-plugin=kubenet", "--pod-cidr=10.244.1.0/24"],
    writtenBy: "podnet 0.1.0, commit abc",
    docs: "/opt/podnet/docs/operations.md",
  });
  const byName = new Map(units.map((u) => [u.name, u.text]));
  it("podnet-node runs `podnet node` with the launchers' socket and the given arguments", () => {
    assert.deepEqual(parseExecStart(execStartOf(byName.get(NODE_UNIT)!)), [
      "/usr/local/node 20/bin/node",
      "/opt/podnet/bin/podnet",
      "node",
      "--cni-socket=/run/podnet/cni.sock",
      "--network-plugin=kubenet",
      "--pod-cidr=10.244.1.0/24",
    ]);
  });
  it("podnet-resident runs `podnet resident` on the same socket", () => {
    assert.deepEqual(parseExecStart(execStartOf(byName.get(RESIDENT_UNIT)!)), [
      "/usr/local/node 20/bin/node",
      "/opt/podnet/bin/podnet",
      "resident",
      "--socket=/run/podnet/cni.sock",
    ]);
  });
  it("each conflicts with the other, restarts, starts before the runtimes", () => {
    assert.match(byName.get(NODE_UNIT)!, /^Conflicts=podnet-resident\.service$/m);
    assert.match(byName.get(RESIDENT_UNIT)!, /^Conflicts=podnet-node\.service$/m);
    for (const t of byName.values()) {
      assert.match(t, /^Restart=always$/m);
      assert.match(t, /^Before=containerd\.service crio\.service kubelet\.service$/m);
      assert.match(t, /^WantedBy=multi-user\.target$/m);
      assert.match(t, /^Documentation=file:\/\/\/opt\/podnet\/docs\/operations\.md$/m);
    }
  });
  it("hardening without a private mount namespace (netns bind mounts, /proc/sys, /var/lib/cni stay the host's)", () => {
    for (const t of byName.values()) {
      assert.match(t, /^NoNewPrivileges=yes$/m);
      for (const d of [
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectControlGroups",
        "ReadOnlyPaths",
        "InaccessiblePaths",
        "MountFlags",
        "PrivateNetwork",
        "CapabilityBoundingSet",
        "MemoryDenyWriteExecute",
      ]) {
        assert.doesNotMatch(t, new RegExp(`^${d}=`, "m"), d);
      }
    }
    assert.match(byName.get(RESIDENT_UNIT)!, /^RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6$/m);
    assert.doesNotMatch(byName.get(NODE_UNIT)!, /RestrictAddressFamilies/, "podnet node execs any CNI plugin");
  });
  it("paths must be absolute", () => {
    assert.throws(
      () => systemdUnits({ node: "node", cli: "/x", cniSocket: "/s", nodeArgs: [], writtenBy: "" }),
      /absolute/,
    );
  });
});
