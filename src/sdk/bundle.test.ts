import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { aboutText } from "./dispatch.js";
import { isPodnetBundle } from "./bundle.js";

describe("podnet's plugin executables", () => {
  it("isPodnetBundle recognises podnet's bundles, not Go's ELF binaries", () => {
    // The text is a bundle's JavaScript source, template literal and all.
    const bundle = Buffer.from(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a bundle's source text, not a template
      '#!/usr/bin/node\n"use strict";\nconst t = `CNI ${n} plugin podnet v${v}`;\nconst about = { name: "host-local" };\n',
    );
    assert.equal(isPodnetBundle(bundle, "host-local"), true);
    assert.equal(isPodnetBundle(bundle, "static"), false);
    assert.equal(isPodnetBundle(Buffer.from("\x7fELF\x02\x01\x01 host-local plugin podnet v"), "host-local"), false);
    // podnet's resident-mode launcher is an ELF too, and serves every plugin name in-process.
    assert.equal(isPodnetBundle(Buffer.from("\x7fELF\x02\x01\x01 ... podnet launcher: %s: %s"), "host-local"), true);
  });
  it("the mark is the SDK's about text", () => {
    assert.match(aboutText({ name: "x", supportedVersions: [] }), /plugin podnet v/);
  });
});
