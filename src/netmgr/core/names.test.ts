import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { dns1123LabelErrors, dns1123SubdomainErrors, qualifiedNameErrors } from "./names.js";

describe("plugin names (IsQualifiedName)", () => {
  for (const n of ["kubernetes.io/no-op", "cni", "kubenet", "mycompany/mysdn", "My_Plugin.v2"])
    it(`${n} is valid`, () => assert.deepEqual(qualifiedNameErrors(n), []));
  for (const n of ["My Plugin", "-x", "x-", "a/b/c", "/x", "Example.com/x", "", "x".repeat(64)])
    it(`${JSON.stringify(n)} is invalid`, () => assert.notDeepEqual(qualifiedNameErrors(n), []));
});

describe("pod names", () => {
  it("labels and subdomains", () => {
    assert.deepEqual(dns1123LabelErrors("default"), []);
    assert.notDeepEqual(dns1123LabelErrors("Default"), []);
    assert.notDeepEqual(dns1123LabelErrors("a.b"), []);
    assert.deepEqual(dns1123SubdomainErrors("web-0.x"), []);
    assert.notDeepEqual(dns1123SubdomainErrors("web_0"), []);
  });
});
