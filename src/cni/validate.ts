// Validation of the attachment identifiers (libcni pkg/utils): container ID, network name, ifname.
import { CniCode, CniError } from "./errors.js";

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function validateContainerID(id: string): void {
  if (id === "") throw new CniError(CniCode.UnknownContainer, "missing containerID");
  if (!NAME_RE.test(id)) throw new CniError(CniCode.InvalidEnvironmentVariables, `invalid characters in containerID "${id}"`);
}

export function validateNetworkName(name: string): void {
  if (name === "") throw new CniError(CniCode.InvalidNetworkConfig, "missing network name");
  if (!NAME_RE.test(name)) throw new CniError(CniCode.InvalidNetworkConfig, `invalid characters found in network name "${name}"`);
}

/** Linux interface names: 1..15 bytes, not "." or "..", no "/", ":" or whitespace. */
export function validateIfName(name: string): void {
  const bad = (why: string) => new CniError(CniCode.InvalidEnvironmentVariables, `invalid interface name "${name}": ${why}`);
  if (name === "") throw new CniError(CniCode.InvalidEnvironmentVariables, "interface name is empty");
  if (Buffer.byteLength(name) > 15) throw bad("longer than 15 bytes");
  if (name === "." || name === "..") throw bad("is a relative path");
  if (/[/:\s]/.test(name)) throw bad("contains '/', ':' or whitespace");
}
