// podnet's errors: one base class, PodnetError, and one catalogue of the stable codes its
// subclasses carry (the idea of undici's lib/core/errors.js — `UndiciError` with
// `code = "UND_ERR_…"` — and of fastify's lib/errors.js list). A caller branches on the class
// (`instanceof KernelError`) or on `code` (`e.code === "PODNET_KERNEL"`), never on message text:
// messages are for people and may change; codes and classes do not.
//
// Each class is declared beside the code that throws it (KernelError in src/kernel/errors.ts, …)
// and sets its own `code`; a test (errors.test.ts) checks that every error class of src/ extends
// PodnetError with a code listed here, each code used by one class.
//
// Two kinds of error stay outside, on purpose:
// - CniError (src/cni/errors.ts) and its subclasses: the CNI spec's error object (Go's
//   types.Error). Its `code` is the spec's number (1 … 999) that goes on the wire, that Go's libcni
//   and every SDK user match on, and that a stable string code cannot replace. Anything else a
//   plugin throws becomes a CniError in one place (toCniError: code 999).
// - Argument errors: JavaScript's own RangeError and TypeError for a value out of range or of the
//   wrong type, as Node's ERR_OUT_OF_RANGE is a RangeError. IPRangeError is one (the kernel layer
//   reports bad arguments as RangeErrors); it carries a code from this catalogue all the same.

/** Every code, with what it means. */
export const ERROR_CODES = {
  // the kernel layer (src/kernel)
  PODNET_KERNEL: "a kernel operation failed (netlink, sysctl, flock, netns files); `errno` names the kernel's errno",
  PODNET_EXEC: "a command ran and failed (non-zero exit, signal, timeout); `exitCode`, `stderr`",
  PODNET_EXEC_START: "a command could not be started at all (ENOENT, EACCES, …); `errno`",
  PODNET_IPTABLES: "an iptables/ip6tables command or restore failed; `exitCode`, `notInstalled`",
  PODNET_NFTABLES: "an nftables transaction or listing failed, over netlink or nft; `errno`",
  PODNET_TC: "a traffic-control operation failed, over netlink or tc; `errno`",
  PODNET_BOUNDED_READ: "a file or stream was larger than its limit (EFBIG) or not a regular file (EINVAL); `errno`",
  PODNET_SOCKET_PATH: "a unix socket path podnet refuses to use; `path`",
  // the CNI core, IP math and bounded input (src/cni, src/ip, src/util)
  PODNET_JSON_INPUT: "a JSON document was refused (syntax, size, nesting); `reason`, `line`, `column`",
  PODNET_YAML_INPUT: "a YAML document was refused (syntax, nesting, aliases, more than one document)",
  PODNET_CIDR_LIST: "a comma-separated list of CIDRs (one per family) refused; the message names the element",
  PODNET_IP_PARSE: "text that is not an IP address or CIDR; `input`, `reason`",
  PODNET_IP_RANGE: "address arithmetic left the family's address space (a RangeError)",
  // plugins and the resident daemon
  PODNET_HOST_LOCAL_RANGE: "a host-local range that fails validation",
  PODNET_RESIDENT_PROTOCOL: "a malformed or oversized resident-launcher request or response; `cniCode` to answer with",
  // the node manager (src/netmgr)
  PODNET_INVALID_POD: "a pod the plugin cannot set up because of its own spec (the caller's fault)",
  PODNET_BANDWIDTH_ANNOTATION: "an invalid bandwidth annotation (an invalid pod); `annotation`, `value`",
  PODNET_QUANTITY: "a Kubernetes quantity that does not parse; `kind`",
  PODNET_NETWORK_PLUGIN: "the network plugin failed a pod operation (the plugin's error is the cause)",
  PODNET_PLUGIN_SELECTION: "no network plugin could be selected; `problems`",
  PODNET_POD: "a pod operation refused or failed; `status` is its HTTP status",
  PODNET_POD_MANIFEST: "a Pod manifest that is not valid; `field`",
  PODNET_POD_LIFECYCLE: "an event not allowed in a pod's phase (a bug in the caller)",
  PODNET_CHECKPOINT_CORRUPT: "a pod checkpoint file that does not verify",
  PODNET_USAGE: "a bad command-line flag or value of `podnet node`",
  PODNET_API: "an error answer of the node manager's HTTP API; `status`, `field`",
  PODNET_STARTUP: "`podnet node` could not start",
  PODNET_BIND_ADDRESS: "a --metrics-bind-address that is not HOST:PORT",
  // cluster networking (src/cluster)
  PODNET_CLUSTER_CONFIG: "a bad cluster flag or setting; `field`",
  PODNET_CLUSTER_STORE: "the cluster store failed; `kind`: unavailable, lease-not-found, invalid",
  PODNET_CLUSTER_ALLOCATION:
    "no pod CIDR block could be allocated; `kind`: exhausted, overlap, outside, config-mismatch, contended",
  PODNET_CLUSTER_RECORD: "a node record that does not decode",
  PODNET_CLUSTER_LOCAL_STATE: "the node's local cluster state file that does not decode",
  PODNET_CLUSTER_START: "a cluster setting that cannot work on this node (the daemon reports it and exits)",
  // installation and the CLI (src/deploy, src/cli)
  PODNET_INSTALL_UNIT: "a systemd unit that cannot be written",
  PODNET_INSTALL_MANIFEST: "an install manifest that is missing, untrusted or malformed",
  PODNET_INSTALL_CONFLICT: "files podnet did not write are in the way; `conflicts`",
  PODNET_INSTALL_CONFLIST: "a bad value for the CNI config `podnet install` writes",
  PODNET_VALID_ATTACHMENTS: "a bad list of valid attachments for `podnet cni gc`",
} as const;

export type PodnetErrorCode = keyof typeof ERROR_CODES;

/**
 * The base of podnet's errors. A subclass sets `name` and `code` as fields:
 * `class KernelError extends PodnetError { override name = "KernelError"; readonly code = "PODNET_KERNEL"; … }`.
 */
export abstract class PodnetError extends Error {
  abstract readonly code: PodnetErrorCode;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Whether `e` is a podnet error, optionally with one of `codes`. */
export function isPodnetError(e: unknown, ...codes: PodnetErrorCode[]): e is PodnetError {
  return e instanceof PodnetError && (codes.length === 0 || codes.includes(e.code));
}
