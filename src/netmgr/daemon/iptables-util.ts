// The kubelet's own iptables chains (--make-iptables-util-chains, default true): KUBE-MARK-MASQ
// marks packets (0x4000) that KUBE-POSTROUTING then masquerades. kubenet's hostport rules jump to
// KUBE-MARK-MASQ, so it has to exist before the first pod with a hostPort.
import type { IPTables } from "../../kernel/iptables.js";

export const MASQUERADE_MARK = "0x00004000";

export async function ensureKubeletUtilChains(ipt: IPTables): Promise<void> {
  await ipt.ensureChain("nat", "KUBE-MARK-MASQ");
  await ipt.ensureChain("nat", "KUBE-POSTROUTING");
  await ipt.ensureRule("append", "nat", "KUBE-MARK-MASQ", ["-j", "MARK", "--or-mark", MASQUERADE_MARK]);
  await ipt.ensureRule("append", "nat", "POSTROUTING", [
    "-m",
    "comment",
    "--comment",
    "kubernetes postrouting rules",
    "-j",
    "KUBE-POSTROUTING",
  ]);
  await ipt.ensureRule("append", "nat", "KUBE-POSTROUTING", [
    "-m",
    "mark",
    "!",
    "--mark",
    `${MASQUERADE_MARK}/${MASQUERADE_MARK}`,
    "-j",
    "RETURN",
  ]);
  await ipt.ensureRule("append", "nat", "KUBE-POSTROUTING", ["-j", "MARK", "--xor-mark", MASQUERADE_MARK]);
  await ipt.ensureRule("append", "nat", "KUBE-POSTROUTING", [
    "-m",
    "comment",
    "--comment",
    "kubernetes service traffic requiring SNAT",
    "-j",
    "MASQUERADE",
  ]);
}
