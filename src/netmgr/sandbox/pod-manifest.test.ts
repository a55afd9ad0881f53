import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PodManifestError, parsePodDocument, parsePodManifest } from "./pod-manifest.js";

const POD = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  annotations:
    kubernetes.io/ingress-bandwidth: 1M
spec:
  containers:
  - name: nginx
    ports:
    - containerPort: 80
      hostPort: 8080
    - containerPort: 53
      protocol: UDP
  - name: sidecar
    ports:
    - {containerPort: 9000, hostPort: 9000, hostIP: 127.0.0.1}
  dnsConfig:
    nameservers: [10.96.0.10]
    searches: [shop.svc.cluster.local]
    options: [{name: ndots, value: "5"}, {name: edns0}]
`;

describe("pod manifests", () => {
  it("reads what the node needs", () => {
    const p = parsePodManifest(POD);
    assert.equal(Object.getPrototypeOf(p.annotations), null, "annotations are input keys: no prototype");
    assert.deepEqual(
      { ...p, annotations: { ...p.annotations } },
      {
        namespace: "shop",
        name: "web",
        uid: "",
        annotations: { "kubernetes.io/ingress-bandwidth": "1M" },
        hostNetwork: false,
        portMappings: [
          { hostPort: 8080, containerPort: 80, protocol: "TCP", hostIP: "" },
          { hostPort: 0, containerPort: 53, protocol: "UDP", hostIP: "" },
          { hostPort: 9000, containerPort: 9000, protocol: "TCP", hostIP: "127.0.0.1" },
        ],
        dns: { servers: ["10.96.0.10"], searches: ["shop.svc.cluster.local"], options: ["ndots:5", "edns0"] },
      },
    );
  });
  it("namespace defaults to default; JSON works too; hostNetwork", () => {
    const p = parsePodManifest('{"metadata":{"name":"x"},"spec":{"hostNetwork":true,"containers":[{"name":"c"}]}}');
    assert.equal(p.namespace, "default");
    assert.equal(p.hostNetwork, true);
  });
  const bad: Array<[string, string, RegExp]> = [
    ["unparsable YAML", "metadata: [\n", /^cannot parse the manifest as YAML \(line \d+, column \d+\)/],
    ["two documents", "a: 1\n---\nb: 2\n", /expected one Pod, the file holds 2 documents/],
    ["not a Pod", "kind: Service\nmetadata: {name: x}\nspec: {}\n", /^kind: must be "Pod", got "Service"/],
    ["no name", "metadata: {}\nspec: {containers: [{name: c}]}\n", /^metadata.name: is required/],
    [
      "bad name",
      "metadata: {name: Web_1}\nspec: {containers: [{name: c}]}\n",
      /^metadata.name: "Web_1": a lowercase RFC 1123 subdomain/,
    ],
    [
      "numeric annotation",
      "metadata: {name: w, annotations: {kubernetes.io/ingress-bandwidth: 10}}\nspec: {containers: [{name: c}]}\n",
      /^metadata.annotations\["kubernetes.io\/ingress-bandwidth"\]: must be a string, got 10/,
    ],
    ["no containers", "metadata: {name: w}\nspec: {containers: []}\n", /^spec.containers: must be a non-empty list/],
    [
      "hostPort text",
      "metadata: {name: w}\nspec: {containers: [{name: c, ports: [{containerPort: 80, hostPort: http}]}]}\n",
      /^spec.containers\[0\].ports\[0\].hostPort: must be an integer in 0..65535, got "http"/,
    ],
    [
      "hostPort too big",
      "metadata: {name: w}\nspec: {containers: [{name: c, ports: [{containerPort: 80, hostPort: 70000}]}]}\n",
      /^spec.containers\[0\].ports\[0\].hostPort: must be an integer in 0..65535, got 70000/,
    ],
    [
      "protocol",
      "metadata: {name: w}\nspec: {containers: [{name: c, ports: [{containerPort: 80, protocol: tcp}]}]}\n",
      /^spec.containers\[0\].ports\[0\].protocol: must be one of "TCP", "UDP", "SCTP", got "tcp"/,
    ],
    [
      "duplicate hostPort",
      "metadata: {name: w}\nspec: {containers: [{name: a, ports: [{containerPort: 80, hostPort: 8080}]}, {name: b, ports: [{containerPort: 81, hostPort: 8080}]}]}\n",
      /^spec.containers\[1\].ports\[0\].hostPort: Duplicate value: "8080\/TCP"/,
    ],
    [
      "hostIP",
      "metadata: {name: w}\nspec: {containers: [{name: a, ports: [{containerPort: 80, hostPort: 1, hostIP: 1.2.3.400}]}]}\n",
      /hostIP: must be a valid IP address, got "1.2.3.400"/,
    ],
    [
      "hostIP of two groups",
      'metadata: {name: w}\nspec: {containers: [{name: a, ports: [{containerPort: 80, hostPort: 1, hostIP: "1:2"}]}]}\n',
      /hostIP: must be a valid IP address, got "1:2"/,
    ],
  ];
  for (const [what, text, re] of bad) {
    it(`rejects ${what}, naming the field and the value`, () =>
      assert.throws(
        () => parsePodManifest(text),
        (e: Error) => e instanceof PodManifestError && re.test(e.message),
      ));
  }
});

// `kubectl get pod web-7d4b9c8f5-x2x9k -o yaml` as a Kubernetes 1.30 API server returns it: every
// field Kubernetes fills in that podnet does not read must be accepted as it is.
const KUBECTL_POD = `apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubernetes.io/egress-bandwidth: 20M
    kubernetes.io/ingress-bandwidth: 10M
  creationTimestamp: "2024-05-02T09:14:27Z"
  generateName: web-7d4b9c8f5-
  labels:
    app: web
    pod-template-hash: 7d4b9c8f5
  managedFields:
  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata:
        f:annotations:
          .: {}
          f:kubernetes.io/egress-bandwidth: {}
          f:kubernetes.io/ingress-bandwidth: {}
        f:generateName: {}
        f:labels:
          .: {}
          f:app: {}
          f:pod-template-hash: {}
        f:ownerReferences:
          .: {}
          k:{"uid":"3f1c2a7e-1d0b-4a55-9c1e-7d8f2b6a9e01"}: {}
      f:spec:
        f:containers:
          k:{"name":"nginx"}:
            .: {}
            f:image: {}
            f:imagePullPolicy: {}
            f:name: {}
            f:ports:
              .: {}
              k:{"containerPort":80,"protocol":"TCP"}:
                .: {}
                f:containerPort: {}
                f:hostPort: {}
                f:name: {}
                f:protocol: {}
            f:resources: {}
            f:terminationMessagePath: {}
            f:terminationMessagePolicy: {}
        f:dnsPolicy: {}
        f:enableServiceLinks: {}
        f:restartPolicy: {}
        f:schedulerName: {}
        f:securityContext: {}
        f:terminationGracePeriodSeconds: {}
    manager: kube-controller-manager
    operation: Update
    time: "2024-05-02T09:14:27Z"
  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:status:
        f:conditions:
          k:{"type":"Ready"}:
            .: {}
            f:lastProbeTime: {}
            f:lastTransitionTime: {}
            f:status: {}
            f:type: {}
        f:podIP: {}
        f:podIPs:
          .: {}
          k:{"ip":"10.244.1.7"}:
            .: {}
            f:ip: {}
    manager: kubelet
    operation: Update
    subresource: status
    time: "2024-05-02T09:14:31Z"
  name: web-7d4b9c8f5-x2x9k
  namespace: shop
  ownerReferences:
  - apiVersion: apps/v1
    blockOwnerDeletion: true
    controller: true
    kind: ReplicaSet
    name: web-7d4b9c8f5
    uid: 3f1c2a7e-1d0b-4a55-9c1e-7d8f2b6a9e01
  resourceVersion: "918273"
  uid: 8a0f6c2e-5b1d-4f0e-a7c3-2e9d4b1f6a58
spec:
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - podAffinityTerm:
          labelSelector:
            matchLabels:
              app: web
          topologyKey: kubernetes.io/hostname
        weight: 100
  containers:
  - env:
    - name: POD_IP
      valueFrom:
        fieldRef:
          apiVersion: v1
          fieldPath: status.podIP
    image: nginx:1.25
    imagePullPolicy: IfNotPresent
    livenessProbe:
      failureThreshold: 3
      httpGet:
        path: /healthz
        port: 80
        scheme: HTTP
      periodSeconds: 10
      successThreshold: 1
      timeoutSeconds: 1
    name: nginx
    ports:
    - containerPort: 80
      hostPort: 8080
      name: http
      protocol: TCP
    resources:
      limits:
        memory: 128Mi
      requests:
        cpu: 100m
        memory: 64Mi
    securityContext:
      allowPrivilegeEscalation: false
      capabilities:
        drop: [ALL]
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    volumeMounts:
    - mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      name: kube-api-access-9xk2p
      readOnly: true
  dnsConfig:
    options:
    - name: ndots
      value: "2"
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  initContainers:
  - command: [sh, -c, "until nslookup db; do sleep 1; done"]
    image: busybox:1.36
    imagePullPolicy: IfNotPresent
    name: wait-db
    resources: {}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  nodeName: node-1
  preemptionPolicy: PreemptLowerPriority
  priority: 0
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext:
    runAsNonRoot: true
    seccompProfile:
      type: RuntimeDefault
  serviceAccount: default
  serviceAccountName: default
  terminationGracePeriodSeconds: 30
  tolerations:
  - effect: NoExecute
    key: node.kubernetes.io/not-ready
    operator: Exists
    tolerationSeconds: 300
  - effect: NoExecute
    key: node.kubernetes.io/unreachable
    operator: Exists
    tolerationSeconds: 300
  topologySpreadConstraints:
  - labelSelector:
      matchLabels:
        app: web
    maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
  volumes:
  - name: kube-api-access-9xk2p
    projected:
      defaultMode: 420
      sources:
      - serviceAccountToken:
          expirationSeconds: 3607
          path: token
      - configMap:
          items:
          - key: ca.crt
            path: ca.crt
          name: kube-root-ca.crt
      - downwardAPI:
          items:
          - fieldRef:
              apiVersion: v1
              fieldPath: metadata.namespace
            path: namespace
status:
  conditions:
  - lastProbeTime: null
    lastTransitionTime: "2024-05-02T09:14:31Z"
    status: "True"
    type: Ready
  containerStatuses:
  - containerID: containerd://4b1e0f5c9a7d
    image: docker.io/library/nginx:1.25
    imageID: docker.io/library/nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31
    lastState: {}
    name: nginx
    ready: true
    restartCount: 0
    started: true
    state:
      running:
        startedAt: "2024-05-02T09:14:30Z"
  hostIP: 192.168.1.21
  hostIPs:
  - ip: 192.168.1.21
  phase: Running
  podIP: 10.244.1.7
  podIPs:
  - ip: 10.244.1.7
  qosClass: Burstable
  startTime: "2024-05-02T09:14:27Z"
`;

describe("pod manifests: strict where podnet reads, open where Kubernetes has fields podnet ignores", () => {
  it("a real `kubectl get pod -o yaml` manifest is accepted as it is", () => {
    const p = parsePodManifest(KUBECTL_POD);
    assert.equal(p.name, "web-7d4b9c8f5-x2x9k");
    assert.equal(p.namespace, "shop");
    assert.equal(p.uid, "8a0f6c2e-5b1d-4f0e-a7c3-2e9d4b1f6a58");
    assert.deepEqual(p.portMappings, [{ hostPort: 8080, containerPort: 80, protocol: "TCP", hostIP: "" }]);
    assert.deepEqual(
      { ...p.annotations },
      { "kubernetes.io/egress-bandwidth": "20M", "kubernetes.io/ingress-bandwidth": "10M" },
    );
    assert.deepEqual(p.dns, { servers: [], searches: [], options: ["ndots:2"] });
    // and as JSON (what `kubectl get pod -o json` and the API carry)
    assert.deepEqual(parsePodManifest(JSON.stringify(parsePodDocument(KUBECTL_POD))).portMappings, p.portMappings);
  });
  const typos: Array<[string, string, string]> = [
    [
      "hostport",
      "spec:\n  containers: [{name: c, ports: [{containerPort: 80, hostport: 8080}]}]",
      'spec.containers[0].ports[0].hostport: unknown field (did you mean "hostPort"?)',
    ],
    [
      "containerport",
      "spec:\n  containers: [{name: c, ports: [{containerport: 80}]}]",
      'spec.containers[0].ports[0].containerport: unknown field (did you mean "containerPort"?)',
    ],
    [
      "hostNetwrok",
      "spec:\n  hostNetwrok: true\n  containers: [{name: c}]",
      'spec.hostNetwrok: unknown field (did you mean "hostNetwork"?)',
    ],
    [
      "annotation (singular)",
      "  annotation: {a: b}\nspec:\n  containers: [{name: c}]",
      'metadata.annotation: unknown field (did you mean "annotations"?)',
    ],
    [
      "container field",
      "spec:\n  containers: [{name: c, prots: [{containerPort: 80}]}]",
      'spec.containers[0].prots: unknown field (did you mean "ports"?)',
    ],
    [
      "dnsConfig field",
      "spec:\n  containers: [{name: c}]\n  dnsConfig: {nameserver: [1.1.1.1]}",
      'spec.dnsConfig.nameserver: unknown field (did you mean "nameservers"?)',
    ],
    [
      "dns option field",
      "spec:\n  containers: [{name: c}]\n  dnsConfig: {options: [{name: ndots, val: '5'}]}",
      'spec.dnsConfig.options[0].val: unknown field (did you mean "value"?)',
    ],
    ["top level", "sepc: {}\nspec:\n  containers: [{name: c}]", 'sepc: unknown field (did you mean "spec"?)'],
    [
      "no suggestion",
      "spec:\n  containers: [{name: c, ports: [{containerPort: 80, frobnicate: 1}]}]",
      "spec.containers[0].ports[0].frobnicate: unknown field",
    ],
    [
      "__proto__",
      'spec:\n  containers: [{name: c, ports: [{containerPort: 80, "__proto__": {hostPort: 1}}]}]',
      "spec.containers[0].ports[0].__proto__: unknown field",
    ],
    [
      "a key that is not a name",
      'spec:\n  containers: [{name: c, "host port": 1}]',
      'spec.containers[0]["host port"]: unknown field',
    ],
  ];
  for (const [what, body, msg] of typos) {
    it(`an unknown field is refused with its path: ${what}`, () =>
      assert.throws(
        () => parsePodManifest(`metadata:\n  name: w\n${body}\n`),
        (e: unknown) => {
          assert.ok(e instanceof PodManifestError);
          assert.equal(e.message, msg);
          assert.equal(e.field, msg.slice(0, msg.indexOf(": unknown field")));
          return true;
        },
      ));
  }
  it("inside the fields podnet ignores, anything goes", () => {
    assert.doesNotThrow(() =>
      parsePodManifest(
        "metadata: {name: w, labels: {anything: goes}}\nspec:\n  containers: [{name: c, resources: {whatever: {nested: 1}}}]\n  volumes: [{name: v, madeUp: true}]\nstatus: {noSuchField: 1}\n",
      ),
    );
  });
});

describe("pod manifests: bounded YAML", () => {
  const err = (text: string, re: RegExp) =>
    assert.throws(
      () => parsePodDocument(text),
      (e: unknown) => e instanceof PodManifestError && re.test(e.message),
    );
  it("deep nesting is refused before the yaml library recurses (3,000 '[' used to crash the process)", () => {
    err("[".repeat(3000) + "]".repeat(3000), /^the manifest nests deeper than 100 levels \(line 1, column 101\)$/);
    err("[".repeat(500_000), /^the manifest nests deeper than 100 levels/);
    let block = "";
    for (let i = 0; i < 200; i++) block += `${" ".repeat(i)}k${i}:\n`;
    err(`${block + " ".repeat(200)}x: 1\n`, /^the manifest nests deeper than 100 levels \(line \d+, column \d+\)$/);
    err(`${"- ".repeat(300)}x\n`, /^the manifest nests deeper than 100 levels/);
  });
  it("alias expansion is bounded (no billion laughs)", () => {
    let bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
    for (let i = 1; i < 10; i++)
      bomb += `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
        .fill(`*${String.fromCharCode(96 + i)}`)
        .join(",")}]\n`;
    err(bomb, /^cannot use the manifest: Excessive alias count/);
    assert.deepEqual(parsePodDocument("x: &e [1]\ny: *e\n"), { x: [1], y: [1] }, "a few aliases are fine");
  });
  it(`a manifest over 1 MiB is refused before it is parsed`, () => {
    err(`metadata: {name: w}\n#${"x".repeat(1 << 20)}\n`, /^the manifest is larger than 1 MiB$/);
  });
});
