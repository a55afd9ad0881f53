// Validation of the attachment identifiers (libcni pkg/utils): container ID, network name, ifname,
// and the other CNI_* values that become kernel or file-system names. For the identifiers the
// codes, messages and details are Go's, word for word: runtimes and plugins compare them.
import { CniCode, CniError } from "./errors.js";

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Go's unicode.IsSpace. */
const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

export function validateContainerID(id: string): void {
  if (id === "") throw new CniError(CniCode.UnknownContainer, "missing containerID");
  if (!NAME_RE.test(id))
    throw new CniError(CniCode.InvalidEnvironmentVariables, "invalid characters in containerID", { details: id });
}

export function validateNetworkName(name: string): void {
  if (name === "") throw new CniError(CniCode.InvalidNetworkConfig, "missing network name");
  if (!NAME_RE.test(name))
    throw new CniError(CniCode.InvalidNetworkConfig, "invalid characters found in network name", { details: name });
}

/**
 * Linux interface names (the kernel's dev_valid_name): 1..15 bytes, not "." or "..", no "/", ":"
 * or whitespace — and no NUL, which the kernel would take as the end of the name (an exec'd plugin
 * never sees one, as execve cannot pass it; the resident protocol can).
 */
export function validateIfName(name: string): void {
  const bad = (msg: string, details?: string) =>
    new CniError(CniCode.InvalidEnvironmentVariables, msg, details ? { details } : {});
  if (name === "") throw bad("interface name is empty");
  // podnet's own: Go never sees a NUL (execve cannot pass one).
  if (name.includes("\0")) throw bad(`invalid interface name ${JSON.stringify(name)}: contains a NUL byte`);
  if (Buffer.byteLength(name) > 15)
    throw bad("interface name is too long", "interface name should be less than 16 characters");
  if (name === "." || name === "..") throw bad("interface name is . or ..");
  if (name.includes("/") || name.includes(":") || GO_SPACE.test(name))
    throw bad("interface name contains / or : or whitespace characters");
}

/**
 * A CNI_* value that names a path or a list of paths (CNI_NETNS, CNI_PATH, CNI_ARGS...): a NUL
 * would cut it short in every system call, so it is refused (code 4) naming the variable.
 */
export function validateEnvValue(name: string, value: string): void {
  if (value.includes("\0"))
    throw new CniError(CniCode.InvalidEnvironmentVariables, `invalid ${name}: contains a NUL byte`);
}
