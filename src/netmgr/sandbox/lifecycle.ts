// The pod lifecycle of `podnet node`, as data: the phases a pod goes through, the events that move
// it, and what a restarted daemon does with a pod it finds in each phase. Pure; the runtime
// (runtime.ts) performs the work, holding the pod's lock for the whole of each step, and writes the
// checkpoint at every change of phase. docs/security.md ("Pod lifecycle") describes it for users.
//
//   (absent) ─create─▶ setting-up ─set-up─▶ ready ─delete─▶ tearing-down ─torn-down─▶ (gone)
//                          │                 │  ▲                  ▲   └─teardown-failed─┘
//                          └─set-up-failed─▶ (gone)                │
//                                 broken ▼  │ repaired             │
//                                       repairing ─repair-failed─▶ failed ─delete─┘
//
// "ready" means: SetUpPod succeeded (or, after a restart, the plugin found everything it made still
// there); "failed": the network is torn down and the pod waits to be deleted, with the reason.
import { PodnetError } from "../../util/errors.js";

export const POD_PHASES = ["setting-up", "ready", "repairing", "failed", "tearing-down"] as const;
export type PodPhase = (typeof POD_PHASES)[number];

export type PodEvent =
  /** POST accepted: name, host ports and netns reserved, checkpoint written. */
  | "create"
  /** SetUpPod succeeded. */
  | "set-up"
  /** SetUpPod failed (everything undone), or a restart found the set-up interrupted. */
  | "set-up-failed"
  /** After a restart: the plugin found everything it made. */
  | "verified"
  /** After a restart: something is missing (or the pod could not be re-attached). */
  | "broken"
  /** Torn down and set up again, with the same sandbox. */
  | "repaired"
  | "repair-failed"
  /** DELETE, or a restart finding the sandbox gone. */
  | "delete"
  | "torn-down"
  /** The teardown failed: the pod stays "tearing-down"; a DELETE or the next start retries. */
  | "teardown-failed";

/** "absent": not created yet; "gone": removed, checkpoint deleted. */
export type Lifecycle = PodPhase | "absent" | "gone";

const TRANSITIONS: Readonly<Record<PodPhase | "absent", Partial<Record<PodEvent, PodPhase | "gone">>>> = {
  absent: { create: "setting-up" },
  "setting-up": { "set-up": "ready", "set-up-failed": "gone" },
  ready: { verified: "ready", broken: "repairing", delete: "tearing-down" },
  repairing: { broken: "repairing", repaired: "ready", "repair-failed": "failed" },
  failed: { delete: "tearing-down" },
  "tearing-down": { delete: "tearing-down", "torn-down": "gone", "teardown-failed": "tearing-down" },
};

/** An event that is not allowed in a phase: a bug in the caller, never the client's fault. */
export class LifecycleError extends PodnetError {
  override name = "LifecycleError";
  readonly code = "PODNET_POD_LIFECYCLE";
}

/** The phase after `event`; throws LifecycleError when the event is not allowed in `from`. */
export function transition(from: PodPhase | "absent", event: PodEvent): PodPhase | "gone" {
  const to = TRANSITIONS[from][event];
  if (to === undefined) throw new LifecycleError(`pod lifecycle: "${event}" is not allowed in phase "${from}"`);
  return to;
}

/** transition() for events that never remove the pod. */
export function nextPhase(from: PodPhase | "absent", event: PodEvent): PodPhase {
  const to = transition(from, event);
  if (to === "gone") throw new LifecycleError(`pod lifecycle: "${event}" in phase "${from}" removes the pod`);
  return to;
}

export function isPodPhase(s: unknown): s is PodPhase {
  return typeof s === "string" && (POD_PHASES as readonly string[]).includes(s);
}

/**
 * What a restarted daemon does with a checkpointed pod:
 * - undo:            its set-up was interrupted (the client never got an answer): tear down, remove;
 * - finish-teardown: its teardown was interrupted, or its sandbox is gone: tear down, remove;
 * - verify:          re-attach and ask the plugin whether everything is there; repair if not;
 * - repair:          a repair was interrupted: do it again;
 * - keep:            failed pods stay failed until deleted.
 */
export type RestartAction = "undo" | "finish-teardown" | "verify" | "repair" | "keep";

export function restartAction(phase: PodPhase, sandboxAlive: boolean): RestartAction {
  switch (phase) {
    case "setting-up":
      return "undo";
    case "tearing-down":
      return "finish-teardown";
    case "ready":
      return sandboxAlive ? "verify" : "finish-teardown";
    case "repairing":
      return sandboxAlive ? "repair" : "finish-teardown";
    case "failed":
      return "keep";
  }
}

/** The 409 a POST gets for a name that is taken, naming the phase the pod is in. */
export function nameTakenMessage(pod: string, sandboxID: string, phase: PodPhase, reason?: string): string {
  const sb = `sandbox ${sandboxID.slice(0, 12)}`;
  switch (phase) {
    case "tearing-down":
      return `pod "${pod}" is being torn down (${sb}${reason ? `: ${reason}` : ""}); add it again once it is gone`;
    case "failed":
      return `pod "${pod}" already exists (${sb}, phase failed${reason ? `: ${reason}` : ""}); delete it first`;
    default:
      return `pod "${pod}" already exists (${sb}, phase ${phase})`;
  }
}
