import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ExecError, type Exec } from "./exec.js";
import { classifyNftError, createNft, isNftExists, isNftNotFound, nftString } from "./nft.js";

const stderrExists = `/dev/stdin:3:1-60: Error: Could not process rule: File exists
add element inet podnet_portmap hostports4 { tcp . 8080 : jump hp_1 }
^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
`;

describe("nft errors", () => {
  it("classifies the first Error line and keeps the failing command", () => {
    const c = classifyNftError(stderrExists);
    assert.equal(c.errno, "EEXIST");
    assert.equal(c.command, "add element inet podnet_portmap hostports4 { tcp . 8080 : jump hp_1 }");
    assert.equal(classifyNftError("Error: No such file or directory\nlist table inet x\n     ^^^\n").errno, "ENOENT");
    assert.equal(classifyNftError("Error: Could not process rule: Device or resource busy\n").errno, "EBUSY");
    assert.equal(classifyNftError("/dev/stdin:1:5-7: Error: syntax error, unexpected junk\n").errno, "EINVAL");
    assert.equal(classifyNftError("").errno, "UNKNOWN");
  });

  it("apply() sends one `nft -f -` with the commands; failures become NftError", async () => {
    const calls: Array<{ argv: readonly string[]; stdin?: string }> = [];
    const exec: Exec = {
      async run(argv, o) {
        calls.push({ argv, stdin: String(o?.stdin ?? "") });
        if (String(o?.stdin).includes("8080")) throw new ExecError(argv, 1, "", stderrExists);
        return "";
      },
    };
    const nft = createNft(exec);
    await nft.apply([]);
    assert.equal(calls.length, 0, "an empty transaction runs nothing");
    await nft.apply(["add table inet t", "add chain inet t c"]);
    assert.deepEqual(calls[0], { argv: ["nft", "-f", "-"], stdin: "add table inet t\nadd chain inet t c\n" });
    const err = await nft.apply(["add element inet t m { tcp . 8080 : jump c }"]).catch((e: unknown) => e);
    assert.ok(isNftExists(err));
    assert.ok(!isNftNotFound(err));
    assert.match((err as Error).message, /File exists \(in "add element inet podnet_portmap hostports4/);
  });

  it("json() returns the nftables array", async () => {
    const nft = createNft({ run: async () => '{"nftables": [{"metainfo": {}}, {"table": {"name": "t"}}]}' });
    assert.deepEqual(await nft.json(["list", "table", "inet", "t"]), [{ metainfo: {} }, { table: { name: "t" } }]);
  });

  it("quotes comments without letting a quote end them", () => {
    assert.equal(nftString('ab "c"\n'), '"ab _c__"');
  });
});
