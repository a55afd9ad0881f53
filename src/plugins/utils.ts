// The names plugins give their netfilter objects (containernetworking/plugins pkg/utils): hashed
// chain names and the comment that marks an attachment's rules, byte-compatible with the Go
// plugins so that either can find and remove what the other made. Imported only by the modules
// that render rules (node:crypto costs start-up; bridge loads its ipmasq.ts on demand).
import { createHash } from "node:crypto";

/** Longest iptables chain name (pkg/utils maxChainLength). */
const MAX_CHAIN_LENGTH = 28;
const CHAIN_PREFIX = "CNI-";
/** sha512 in hex (pkg/utils MaxHashLen). */
const MAX_HASH_LENGTH = 128;

/** Go's MustFormatHashWithPrefix: `(prefix + hex(sha512(s)))[:length]`; Go panics (here: RangeError) when the prefix leaves no room for the hash. */
export function mustFormatHashWithPrefix(length: number, prefix: string, s: string): string {
  if (prefix.length >= length || length > MAX_HASH_LENGTH) {
    throw new RangeError(`hash prefix ${JSON.stringify(prefix)} leaves no room for a hash in ${length} characters`);
  }
  return (prefix + createHash("sha512").update(s).digest("hex")).slice(0, length);
}

/** Go's MustFormatChainNameWithPrefix: `CNI-<prefix>` + hex of sha512(name + id), 28 characters. */
export const mustFormatChainNameWithPrefix = (name: string, id: string, prefix: string): string =>
  mustFormatHashWithPrefix(MAX_CHAIN_LENGTH, CHAIN_PREFIX + prefix, name + id);

/** Go's FormatChainName: `CNI-` + 24 hex characters of sha512(name + id). */
export const formatChainName = (name: string, id: string): string => mustFormatChainNameWithPrefix(name, id, "");

/** Go's `%q` for the strings CNI uses (escapes `"`, `\` and non-printable characters). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Go's FormatComment: `name: "<name>" id: "<id>"`, the comment on every iptables rule of one attachment. */
export const formatComment = (name: string, id: string): string => `name: ${goQuote(name)} id: ${goQuote(id)}`;
