// How the node manager runs CNI plugins. Today: podnet's runtime (libcni), exec'ing the plugins.
// The interface is what an in-process invoker (calling podnet's own plugin functions instead of
// exec'ing them) has to implement; cni and kubenet depend on it only.
import type { CniRuntime } from "../../libcni/index.js";

export type CniInvoker = Pick<
  CniRuntime,
  | "addNetworkList"
  | "checkNetworkList"
  | "delNetworkList"
  | "validateNetworkList"
  | "getCachedResult"
  | "getCachedAttachments"
  | "gcNetworkList"
>;

/** "no such file or directory" in a DEL error: the network was already deleted by an earlier attempt. */
export const isAlreadyGone = (e: unknown): boolean =>
  e instanceof Error &&
  `${e.message}; ${(e as { details?: unknown }).details ?? ""}`.includes("no such file or directory");
