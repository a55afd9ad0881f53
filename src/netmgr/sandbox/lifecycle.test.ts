import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  isPodPhase,
  type Lifecycle,
  LifecycleError,
  nameTakenMessage,
  nextPhase,
  POD_PHASES,
  type PodEvent,
  restartAction,
  transition,
} from "./lifecycle.js";

describe("pod lifecycle", () => {
  it("the paths a pod takes", () => {
    const walk = (events: PodEvent[]) => {
      let p: Lifecycle = "absent";
      const seen: string[] = [];
      for (const e of events) {
        assert.notEqual(p, "gone");
        p = transition(p as Exclude<Lifecycle, "gone">, e);
        seen.push(p);
      }
      return seen;
    };
    assert.deepEqual(walk(["create", "set-up", "delete", "torn-down"]), [
      "setting-up",
      "ready",
      "tearing-down",
      "gone",
    ]);
    assert.deepEqual(walk(["create", "set-up-failed"]), ["setting-up", "gone"]);
    assert.deepEqual(walk(["create", "set-up", "delete", "teardown-failed", "delete", "torn-down"]), [
      "setting-up",
      "ready",
      "tearing-down",
      "tearing-down",
      "tearing-down",
      "gone",
    ]);
    assert.deepEqual(walk(["create", "set-up", "verified", "broken", "repaired"]), [
      "setting-up",
      "ready",
      "ready",
      "repairing",
      "ready",
    ]);
    assert.deepEqual(walk(["create", "set-up", "broken", "broken", "repair-failed", "delete", "torn-down"]), [
      "setting-up",
      "ready",
      "repairing",
      "repairing",
      "failed",
      "tearing-down",
      "gone",
    ]);
  });

  it("everything else is refused: no DELETE in the middle of a set-up or a repair (the lock makes it wait), no way back from a teardown", () => {
    const refused: Array<[Parameters<typeof transition>[0], PodEvent]> = [
      ["absent", "delete"],
      ["setting-up", "delete"],
      ["repairing", "delete"],
      ["tearing-down", "set-up"],
      ["tearing-down", "verified"],
      ["failed", "set-up"],
      ["failed", "broken"],
      ["ready", "create"],
      ["ready", "torn-down"],
    ];
    for (const [from, ev] of refused) {
      assert.throws(
        () => transition(from, ev),
        (e: Error) =>
          e instanceof LifecycleError && e.message === `pod lifecycle: "${ev}" is not allowed in phase "${from}"`,
      );
    }
    assert.throws(() => nextPhase("tearing-down", "torn-down"), /removes the pod/);
  });

  it("what a restart does in each phase", () => {
    const table = POD_PHASES.flatMap((p) =>
      [true, false].map((alive) => `${p}${alive ? "" : " (sandbox gone)"}: ${restartAction(p, alive)}`),
    );
    assert.deepEqual(table, [
      "setting-up: undo",
      "setting-up (sandbox gone): undo",
      "ready: verify",
      "ready (sandbox gone): finish-teardown",
      "repairing: repair",
      "repairing (sandbox gone): finish-teardown",
      "failed: keep",
      "failed (sandbox gone): keep",
      "tearing-down: finish-teardown",
      "tearing-down (sandbox gone): finish-teardown",
    ]);
  });

  it("phases by name; the 409 names the phase", () => {
    assert.equal(isPodPhase("ready"), true);
    assert.equal(isPodPhase("gone"), false);
    assert.equal(
      nameTakenMessage("default/web", "0123456789abcdef", "ready"),
      'pod "default/web" already exists (sandbox 0123456789ab, phase ready)',
    );
    assert.equal(
      nameTakenMessage("default/web", "0123456789abcdef", "tearing-down"),
      'pod "default/web" is being torn down (sandbox 0123456789ab); add it again once it is gone',
    );
    assert.equal(
      nameTakenMessage("default/web", "0123456789abcdef", "failed", "eth0 is missing"),
      'pod "default/web" already exists (sandbox 0123456789ab, phase failed: eth0 is missing); delete it first',
    );
  });
});
