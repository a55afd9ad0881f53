// The fields of a Kubernetes v1 Pod at every level podnet reads (k8s.io/api core/v1 types.go:
// Pod, PodSpec, Container, ContainerPort, PodDNSConfig, PodDNSConfigOption; ObjectMeta from
// k8s.io/apimachinery). `read` are the fields podnet uses; `ignored` are the others Kubernetes
// defines at that level, accepted and never looked at, so that `kubectl get pod -o yaml` output
// works as it is. Anything else is a typo (`hostport:` would silently lose the hostPort) and is
// refused. Below an ignored field (spec.volumes, metadata.labels, status...) nothing is checked.
//
// When Kubernetes adds a Pod field, add it to `ignored` here (or to `read` if podnet uses it).

export interface FieldSet {
  readonly read: readonly string[];
  readonly ignored: readonly string[];
}

export const POD_FIELDS = {
  pod: {
    read: ["apiVersion", "kind", "metadata", "spec"],
    ignored: ["status"],
  },
  metadata: {
    read: ["name", "namespace", "uid", "annotations"],
    ignored: [
      "generateName",
      "selfLink",
      "resourceVersion",
      "generation",
      "creationTimestamp",
      "deletionTimestamp",
      "deletionGracePeriodSeconds",
      "labels",
      "ownerReferences",
      "finalizers",
      "managedFields",
      // removed in Kubernetes 1.25, still in older manifests
      "clusterName",
    ],
  },
  spec: {
    read: ["containers", "hostNetwork", "dnsConfig"],
    ignored: [
      "volumes",
      "initContainers",
      "ephemeralContainers",
      "restartPolicy",
      "terminationGracePeriodSeconds",
      "activeDeadlineSeconds",
      "dnsPolicy",
      "nodeSelector",
      "serviceAccountName",
      "serviceAccount",
      "automountServiceAccountToken",
      "nodeName",
      "hostPID",
      "hostIPC",
      "shareProcessNamespace",
      "securityContext",
      "imagePullSecrets",
      "hostname",
      "subdomain",
      "affinity",
      "schedulerName",
      "tolerations",
      "hostAliases",
      "priorityClassName",
      "priority",
      "readinessGates",
      "runtimeClassName",
      "enableServiceLinks",
      "preemptionPolicy",
      "overhead",
      "topologySpreadConstraints",
      "setHostnameAsFQDN",
      "os",
      "hostUsers",
      "schedulingGates",
      "resourceClaims",
      "resources",
      "hostnameOverride",
      "workloadRef",
      "schedulingGroup",
      "evictionResponders",
    ],
  },
  container: {
    read: ["name", "ports"],
    ignored: [
      "image",
      "command",
      "args",
      "workingDir",
      "envFrom",
      "env",
      "resources",
      "resizePolicy",
      "restartPolicy",
      "restartPolicyRules",
      "volumeMounts",
      "volumeDevices",
      "livenessProbe",
      "readinessProbe",
      "startupProbe",
      "lifecycle",
      "terminationMessagePath",
      "terminationMessagePolicy",
      "imagePullPolicy",
      "securityContext",
      "stdin",
      "stdinOnce",
      "tty",
    ],
  },
  containerPort: {
    read: ["containerPort", "hostPort", "protocol", "hostIP"],
    ignored: ["name"],
  },
  dnsConfig: {
    read: ["nameservers", "searches", "options"],
    ignored: [],
  },
  dnsOption: {
    read: ["name", "value"],
    ignored: [],
  },
} as const satisfies Record<string, FieldSet>;

/** Edit distance with transpositions (optimal string alignment), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known field `key` was probably meant to be: same letters in another case, else at most 2 edits away. */
export function suggestField(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameCase = known.find((k) => k.toLowerCase() === lower);
  if (sameCase) return sameCase;
  if (key.length > 64) return undefined;
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d < bestD && d < k.length / 2) {
      best = k;
      bestD = d;
    }
  }
  return best;
}
