// Duplicate address detection off in a pod (the kubelet's disableContainerDAD): pods get their
// IPv6 addresses from host-local, and DAD would hold each one back ~1 s. Only where the node has
// IPv6 at all (its default DAD sysctl exists), which is read once.
import type { Kernel } from "../../../kernel/types.js";
import { errorMessage } from "../../../util/error-message.js";

export const DAD_SYSCTL = "net/ipv6/conf/default/dad_transmits";

/** A function that turns DAD off in a pod's netns; rejects (for the caller to log) when it cannot. */
export function containerDad(sysctl: Kernel["sysctl"]): (netns: string) => Promise<void> {
  let nodeIPv6: Promise<void> | undefined;
  return async (netns) => {
    if (!netns) throw new Error("pod has no network namespace");
    nodeIPv6 ??= sysctl.read(null, DAD_SYSCTL).then(
      () => undefined,
      (e: unknown) => {
        throw new Error(`ipv6 not enabled: ${errorMessage(e)}`);
      },
    );
    await nodeIPv6;
    await sysctl.write(netns, DAD_SYSCTL, "0");
  };
}
