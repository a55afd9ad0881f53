// Validation of the attachment identifiers (libcni pkg/utils): container ID, network name, ifname.
// The codes, messages and details are Go's, word for word: runtimes and plugins compare them.
import { CniCode, CniError } from "./errors.js";

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Go's unicode.IsSpace. */
const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

export function validateContainerID(id: string): void {
  if (id === "") throw new CniError(CniCode.UnknownContainer, "missing containerID");
  if (!NAME_RE.test(id)) throw new CniError(CniCode.InvalidEnvironmentVariables, "invalid characters in containerID", { details: id });
}

export function validateNetworkName(name: string): void {
  if (name === "") throw new CniError(CniCode.InvalidNetworkConfig, "missing network name");
  if (!NAME_RE.test(name)) throw new CniError(CniCode.InvalidNetworkConfig, "invalid characters found in network name", { details: name });
}

/** Linux interface names: 1..15 bytes, not "." or "..", no "/", ":" or whitespace. */
export function validateIfName(name: string): void {
  const bad = (msg: string, details?: string) => new CniError(CniCode.InvalidEnvironmentVariables, msg, details ? { details } : {});
  if (name === "") throw bad("interface name is empty");
  if (Buffer.byteLength(name) > 15) throw bad("interface name is too long", "interface name should be less than 16 characters");
  if (name === "." || name === "..") throw bad("interface name is . or ..");
  if (name.includes("/") || name.includes(":") || GO_SPACE.test(name)) throw bad("interface name contains / or : or whitespace characters");
}
