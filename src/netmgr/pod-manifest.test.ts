import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ManifestError, parsePodManifest } from "./pod-manifest.js";

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
    assert.deepEqual(parsePodManifest(POD), {
      namespace: "shop", name: "web", uid: "", annotations: { "kubernetes.io/ingress-bandwidth": "1M" }, hostNetwork: false,
      portMappings: [
        { hostPort: 8080, containerPort: 80, protocol: "TCP", hostIP: "" },
        { hostPort: 0, containerPort: 53, protocol: "UDP", hostIP: "" },
        { hostPort: 9000, containerPort: 9000, protocol: "TCP", hostIP: "127.0.0.1" },
      ],
      dns: { servers: ["10.96.0.10"], searches: ["shop.svc.cluster.local"], options: ["ndots:5", "edns0"] },
    });
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
    ["bad name", "metadata: {name: Web_1}\nspec: {containers: [{name: c}]}\n", /^metadata.name: "Web_1": a lowercase RFC 1123 subdomain/],
    ["numeric annotation", "metadata: {name: w, annotations: {kubernetes.io/ingress-bandwidth: 10}}\nspec: {containers: [{name: c}]}\n", /^metadata.annotations\["kubernetes.io\/ingress-bandwidth"\]: must be a string, got 10/],
    ["no containers", "metadata: {name: w}\nspec: {containers: []}\n", /^spec.containers: must be a non-empty list/],
    ["hostPort text", "metadata: {name: w}\nspec: {containers: [{name: c, ports: [{containerPort: 80, hostPort: http}]}]}\n", /^spec.containers\[0\].ports\[0\].hostPort: must be an integer in 0..65535, got "http"/],
    ["hostPort too big", "metadata: {name: w}\nspec: {containers: [{name: c, ports: [{containerPort: 80, hostPort: 70000}]}]}\n", /^spec.containers\[0\].ports\[0\].hostPort: must be an integer in 0..65535, got 70000/],
    ["protocol", "metadata: {name: w}\nspec: {containers: [{name: c, ports: [{containerPort: 80, protocol: tcp}]}]}\n", /^spec.containers\[0\].ports\[0\].protocol: must be one of "TCP", "UDP", "SCTP", got "tcp"/],
    ["duplicate hostPort", "metadata: {name: w}\nspec: {containers: [{name: a, ports: [{containerPort: 80, hostPort: 8080}]}, {name: b, ports: [{containerPort: 81, hostPort: 8080}]}]}\n", /^spec.containers\[1\].ports\[0\].hostPort: Duplicate value: "8080\/TCP"/],
    ["hostIP", "metadata: {name: w}\nspec: {containers: [{name: a, ports: [{containerPort: 80, hostPort: 1, hostIP: 1.2.3.400}]}]}\n", /hostIP: must be a valid IP address, got "1.2.3.400"/],
    ["hostIP of two groups", "metadata: {name: w}\nspec: {containers: [{name: a, ports: [{containerPort: 80, hostPort: 1, hostIP: \"1:2\"}]}]}\n", /hostIP: must be a valid IP address, got "1:2"/],
  ];
  for (const [what, text, re] of bad) {
    it(`rejects ${what}, naming the field and the value`, () => assert.throws(() => parsePodManifest(text), (e: Error) => e instanceof ManifestError && re.test(e.message)));
  }
});
