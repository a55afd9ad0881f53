// resolv.conf → the result's `dns`, parsed like Go's host-local (dns.go).
import type { DNS } from "../../../cni/index.js";

/**
 * Line by line, trimmed; empty lines and lines starting with '#' or ';' are skipped, as are lines
 * with fewer than two fields. `nameserver X` appends X, `domain X` sets the domain (last wins),
 * `search A B…` and `options A B…` append all their fields; other keywords are ignored.
 */
export function parseResolvConf(text: string): DNS {
  const dns: DNS = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line[0] === "#" || line[0] === ";") continue;
    const fields = line.split(/\s+/);
    if (fields.length < 2) continue;
    const [key, first, ...rest] = fields as [string, string, ...string[]];
    switch (key) {
      case "nameserver":
        dns.nameservers ??= [];
        dns.nameservers.push(first);
        break;
      case "domain":
        dns.domain = first;
        break;
      case "search":
        dns.search ??= [];
        dns.search.push(first, ...rest);
        break;
      case "options":
        dns.options ??= [];
        dns.options.push(first, ...rest);
        break;
    }
  }
  return dns;
}

/** Reads (with a bounded reader) and parses `path`; a read error is fatal to ADD, as in Go. */
export async function loadResolvConf(readFile: (path: string) => Promise<string>, path: string): Promise<DNS> {
  return parseResolvConf(await readFile(path));
}
