// PODNET_TRACE=1: where an operation's time goes, phase by phase, as one line — a plugin call in
// the SDK's dispatcher ("podnet trace bridge ADD: startup=31.20ms parse=0.10ms … total=4.10ms")
// and a pod's setup or teardown in the node manager's kubenet.
export interface PhaseTimer {
  /** Ends the current phase under `name`. */
  mark(name: string): void;
  /** Records a phase timed elsewhere (it does not end the current one): the process's start-up, or work that ran alongside others. */
  add(name: string, ms: number): void;
  /** "podnet trace <what>: a=1.20ms b=0.30ms total=1.50ms" (total: from creation to now). */
  line(what: string): string;
  readonly phases: ReadonlyArray<readonly [string, number]>;
}

export function phaseTimer(now: () => number = () => performance.now()): PhaseTimer {
  const t0 = now();
  let last = t0;
  const phases: Array<[string, number]> = [];
  return {
    phases,
    mark(name) {
      const t = now();
      phases.push([name, t - last]);
      last = t;
    },
    add(name, ms) {
      phases.push([name, ms]);
    },
    line(what) {
      return `podnet trace ${what}: ${phases.map(([p, ms]) => `${p}=${ms.toFixed(2)}ms`).join(" ")} total=${(now() - t0).toFixed(2)}ms`;
    },
  };
}

/** A timer that records nothing (tracing off). */
export const noTimer: PhaseTimer = { phases: [], mark() {}, add() {}, line: () => "" };
