import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseResolvConf } from "./resolvconf.js";

describe("parseResolvConf (Go host-local dns.go)", () => {
  it("reads nameserver, domain, search and options; skips comments and short lines", () => {
    const text = [
      "# generated",
      "; also a comment",
      "",
      "nameserver 10.0.0.10",
      "  nameserver\t2001:db8::53  ",
      "nameserver",
      "domain a.example",
      "domain b.example",
      "search svc.cluster.local cluster.local",
      "search example.com",
      "options ndots:5 edns0",
      "sortlist 10.0.0.0/8",
      "nameserver 10.0.0.11 ignored-extra\r",
    ].join("\n");
    assert.deepEqual(parseResolvConf(text), {
      nameservers: ["10.0.0.10", "2001:db8::53", "10.0.0.11"],
      domain: "b.example",
      search: ["svc.cluster.local", "cluster.local", "example.com"],
      options: ["ndots:5", "edns0"],
    });
  });
  it("an empty file gives an empty DNS object", () => assert.deepEqual(parseResolvConf(""), {}));
});
