// Validation of the attachment identifiers (libcni pkg/utils): container ID, network name, ifname,
// and the other CNI_* values that become kernel or file-system names.
import { CniCode, CniError } from "./errors.js";

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function validateContainerID(id: string): void {
  if (id === "") throw new CniError(CniCode.UnknownContainer, "missing containerID");
  if (!NAME_RE.test(id)) throw new CniError(CniCode.InvalidEnvironmentVariables, `invalid characters in containerID ${JSON.stringify(id)}`);
}

export function validateNetworkName(name: string): void {
  if (name === "") throw new CniError(CniCode.InvalidNetworkConfig, "missing network name");
  if (!NAME_RE.test(name)) throw new CniError(CniCode.InvalidNetworkConfig, `invalid characters found in network name ${JSON.stringify(name)}`);
}

/**
 * Linux interface names (the kernel's dev_valid_name): 1..15 bytes, not "." or "..", no "/", ":"
 * or whitespace — and no NUL, which the kernel would take as the end of the name (an exec'd plugin
 * never sees one, as execve cannot pass it; the resident protocol can).
 */
export function validateIfName(name: string): void {
  const bad = (why: string) => new CniError(CniCode.InvalidEnvironmentVariables, `invalid interface name ${JSON.stringify(name)}: ${why}`);
  if (name === "") throw new CniError(CniCode.InvalidEnvironmentVariables, "interface name is empty");
  if (name.includes("\0")) throw bad("contains a NUL byte");
  if (Buffer.byteLength(name) > 15) throw bad("longer than 15 bytes");
  if (name === "." || name === "..") throw bad("is a relative path");
  if (/[/:\s]/.test(name)) throw bad("contains '/', ':' or whitespace");
}

/**
 * A CNI_* value that names a path or a list of paths (CNI_NETNS, CNI_PATH, CNI_ARGS...): a NUL
 * would cut it short in every system call, so it is refused (code 4) naming the variable.
 */
export function validateEnvValue(name: string, value: string): void {
  if (value.includes("\0")) throw new CniError(CniCode.InvalidEnvironmentVariables, `invalid ${name}: contains a NUL byte`);
}
