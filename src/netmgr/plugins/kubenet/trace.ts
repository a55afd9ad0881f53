// PODNET_TRACE=1 for the node manager: where a pod operation's time goes, phase by phase, in the
// same one-line form the plugins' dispatcher prints ("podnet trace bridge ADD: parse=0.10ms …").
export interface PhaseTimer {
  /** Ends the current phase under `name`. */
  mark(name: string): void;
  /** Records a phase that ran alongside others (printed as `name‖=ms`). */
  concurrent(name: string, ms: number): void;
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
    concurrent(name, ms) {
      phases.push([`${name}‖`, ms]);
    },
    line(what) {
      return `podnet trace ${what}: ${phases.map(([p, ms]) => `${p}=${ms.toFixed(2)}ms`).join(" ")} total=${(now() - t0).toFixed(2)}ms`;
    },
  };
}

/** A timer that records nothing (tracing off). */
export const noTimer: PhaseTimer = { phases: [], mark() {}, concurrent() {}, line: () => "" };
