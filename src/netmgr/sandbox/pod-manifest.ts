// A Kubernetes Pod manifest (YAML or JSON) → the few fields the node network needs, validated as
// the API server would and with errors that name the field and the value:
//   spec.containers[0].ports[1].hostPort: must be an integer in 1..65535, got "http"
// The objects podnet reads are strict (pod-fields.ts): an unknown field is refused, named with its
// path and the field it was probably meant to be, as `kubectl --validate=strict` does:
//   spec.containers[0].ports[0].hostport: unknown field (did you mean "hostPort"?)
// YAML is bounded before the yaml library sees it: size, nesting depth (its composer recurses, and
// a few KiB of "[[[[" crash the process) and aliases (no exponential expansion).
import { brief, formatBytes, isObject, plainObject } from "../../cni/index.js";
import { isIP } from "../../ip/index.js";
import { dns1123LabelErrors, dns1123SubdomainErrors } from "../core/names.js";
import { type FieldSet, POD_FIELDS, suggestField } from "./pod-fields.js";
import type { PortMapping, Protocol } from "../core/plugin.js";
import { PodnetError } from "../../util/errors.js";
import { parseYamlDocument, YamlInputError } from "../../util/bounded-yaml.js";

/** Largest manifest read (`podnet pod add -f`); a Pod in etcd is at most ~1.5 MiB, real ones a few KiB. */
export const MAX_MANIFEST_BYTES = 1 << 20;
/** Deepest YAML nesting (a `kubectl get pod -o yaml` with managedFields is ~15 deep). */
export const MAX_YAML_DEPTH = 100;
/** YAML alias expansions allowed (the yaml library's maxAliasCount: uses × aliases inside the anchored node). */
export const MAX_YAML_ALIASES = 32;

export interface PodDnsConfig {
  readonly servers: readonly string[];
  readonly searches: readonly string[];
  /** "ndots:5" style, as the CRI DNSConfig carries them. */
  readonly options: readonly string[];
}

export interface PodSpec {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly hostNetwork: boolean;
  /** Every container port, in order (hostPort 0 when none). */
  readonly portMappings: readonly PortMapping[];
  readonly dns?: PodDnsConfig;
}

export class PodManifestError extends PodnetError {
  override name = "PodManifestError";
  readonly code = "PODNET_POD_MANIFEST";
  /** Dotted path of the bad field ("" for the document as a whole). */
  readonly field: string;
  constructor(field: string, message: string) {
    super(field ? `${field}: ${message}` : message);
    this.field = field;
  }
}

const show = (v: unknown): string => brief(v);

/** `a.b`, or `a["b c"]` for a key that is not a plain name. */
const child = (path: string, key: string): string =>
  /^[A-Za-z_$][\w$-]*$/.test(key)
    ? path
      ? `${path}.${key}`
      : key
    : `${path}[${JSON.stringify(key.length > 100 ? `${key.slice(0, 100)}…` : key)}]`;

/** Refuses any key of `o` that Kubernetes does not define at this level. */
function strictFields(o: Record<string, unknown>, path: string, fields: FieldSet): void {
  for (const key of Object.keys(o)) {
    if ((fields.read as readonly string[]).includes(key) || (fields.ignored as readonly string[]).includes(key))
      continue;
    const hint = suggestField(key, [...fields.read, ...fields.ignored]);
    throw new PodManifestError(
      child(path, key),
      `unknown field${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ""}`,
    );
  }
}

function port(field: string, v: unknown, { allowZero }: { allowZero: boolean }): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < (allowZero ? 0 : 1) || v > 65535) {
    throw new PodManifestError(field, `must be an integer in ${allowZero ? 0 : 1}..65535, got ${show(v)}`);
  }
  return v;
}

function str(field: string, v: unknown): string {
  if (typeof v !== "string") throw new PodManifestError(field, `must be a string, got ${show(v)}`);
  return v;
}

function strList(field: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new PodManifestError(field, `must be a list, got ${show(v)}`);
  return v.map((x, i) => str(`${field}[${i}]`, x));
}

/** Validates a decoded Pod object (what the daemon's API receives, too). */
export function podFromObject(o: unknown): PodSpec {
  if (!isObject(o)) throw new PodManifestError("", `a Pod manifest must be an object, got ${show(o)}`);
  strictFields(o, "", POD_FIELDS.pod);
  if (o["kind"] !== undefined && o["kind"] !== "Pod")
    throw new PodManifestError("kind", `must be "Pod", got ${show(o["kind"])}`);
  if (o["apiVersion"] !== undefined && o["apiVersion"] !== "v1")
    throw new PodManifestError("apiVersion", `must be "v1", got ${show(o["apiVersion"])}`);
  const md = o["metadata"];
  if (!isObject(md)) throw new PodManifestError("metadata", `must be an object, got ${show(md)}`);
  strictFields(md, "metadata", POD_FIELDS.metadata);
  const name = md["name"];
  if (typeof name !== "string" || name === "")
    throw new PodManifestError("metadata.name", `is required (a DNS subdomain), got ${show(name)}`);
  const nameErrs = dns1123SubdomainErrors(name);
  if (nameErrs.length) throw new PodManifestError("metadata.name", `${show(name)}: ${nameErrs.join("; ")}`);
  const namespace =
    md["namespace"] === undefined || md["namespace"] === null ? "default" : str("metadata.namespace", md["namespace"]);
  const nsErrs = dns1123LabelErrors(namespace);
  if (nsErrs.length) throw new PodManifestError("metadata.namespace", `${show(namespace)}: ${nsErrs.join("; ")}`);
  const uid = md["uid"] === undefined || md["uid"] === null ? "" : str("metadata.uid", md["uid"]);
  // Input keys: an object without a prototype ("__proto__" is an annotation like any other).
  const annotations = plainObject() as Record<string, string>;
  const ann = md["annotations"];
  if (ann !== undefined && ann !== null) {
    if (!isObject(ann))
      throw new PodManifestError("metadata.annotations", `must be a map of strings, got ${show(ann)}`);
    for (const [k, v] of Object.entries(ann)) annotations[k] = str(child("metadata.annotations", k), v);
  }

  const spec = o["spec"];
  if (!isObject(spec)) throw new PodManifestError("spec", `must be an object, got ${show(spec)}`);
  strictFields(spec, "spec", POD_FIELDS.spec);
  const hn = spec["hostNetwork"];
  if (hn !== undefined && hn !== null && typeof hn !== "boolean")
    throw new PodManifestError("spec.hostNetwork", `must be true or false, got ${show(hn)}`);
  const hostNetwork = hn === true;
  const containers = spec["containers"];
  if (!Array.isArray(containers) || containers.length === 0)
    throw new PodManifestError("spec.containers", `must be a non-empty list, got ${show(containers)}`);
  const portMappings: PortMapping[] = [];
  const seen = new Map<string, string>();
  containers.forEach((c, ci) => {
    const cf = `spec.containers[${ci}]`;
    if (!isObject(c)) throw new PodManifestError(cf, `must be an object, got ${show(c)}`);
    strictFields(c, cf, POD_FIELDS.container);
    const cname = c["name"];
    if (typeof cname !== "string" || cname === "")
      throw new PodManifestError(`${cf}.name`, `is required, got ${show(cname)}`);
    const ports = c["ports"];
    if (ports === undefined || ports === null) return;
    if (!Array.isArray(ports)) throw new PodManifestError(`${cf}.ports`, `must be a list, got ${show(ports)}`);
    ports.forEach((p, pi) => {
      const pf = `${cf}.ports[${pi}]`;
      if (!isObject(p)) throw new PodManifestError(pf, `must be an object, got ${show(p)}`);
      strictFields(p, pf, POD_FIELDS.containerPort);
      const containerPort = port(`${pf}.containerPort`, p["containerPort"], { allowZero: false });
      const hostPort =
        p["hostPort"] === undefined || p["hostPort"] === null
          ? 0
          : port(`${pf}.hostPort`, p["hostPort"], { allowZero: true });
      const protoRaw = p["protocol"] === undefined || p["protocol"] === null ? "TCP" : p["protocol"];
      if (protoRaw !== "TCP" && protoRaw !== "UDP" && protoRaw !== "SCTP") {
        throw new PodManifestError(`${pf}.protocol`, `must be one of "TCP", "UDP", "SCTP", got ${show(protoRaw)}`);
      }
      const protocol = protoRaw as Protocol;
      const hostIP = p["hostIP"] === undefined || p["hostIP"] === null ? "" : str(`${pf}.hostIP`, p["hostIP"]);
      if (hostIP !== "" && !isIP(hostIP))
        throw new PodManifestError(`${pf}.hostIP`, `must be a valid IP address, got ${show(hostIP)}`);
      if (hostNetwork && hostPort !== 0 && hostPort !== containerPort) {
        throw new PodManifestError(
          `${pf}.hostPort`,
          `must match containerPort when hostNetwork is true, got ${hostPort} (containerPort ${containerPort})`,
        );
      }
      if (hostPort > 0) {
        const key = `${hostPort}/${protocol}${hostIP ? ` on ${hostIP}` : ""}`;
        const prev = seen.get(`${hostPort}/${protocol}/${hostIP}`);
        if (prev)
          throw new PodManifestError(`${pf}.hostPort`, `Duplicate value: ${JSON.stringify(key)} (also in ${prev})`);
        seen.set(`${hostPort}/${protocol}/${hostIP}`, pf);
      }
      portMappings.push({ hostPort, containerPort, protocol, hostIP });
    });
  });

  let dns: PodDnsConfig | undefined;
  const dc = spec["dnsConfig"];
  if (dc !== undefined && dc !== null) {
    if (!isObject(dc)) throw new PodManifestError("spec.dnsConfig", `must be an object, got ${show(dc)}`);
    strictFields(dc, "spec.dnsConfig", POD_FIELDS.dnsConfig);
    const opts = dc["options"];
    if (opts !== undefined && opts !== null && !Array.isArray(opts))
      throw new PodManifestError("spec.dnsConfig.options", `must be a list, got ${show(opts)}`);
    dns = {
      servers: strList("spec.dnsConfig.nameservers", dc["nameservers"]),
      searches: strList("spec.dnsConfig.searches", dc["searches"]),
      options: ((opts as unknown[] | undefined) ?? []).map((x, i) => {
        if (!isObject(x))
          throw new PodManifestError(`spec.dnsConfig.options[${i}]`, `must be an object, got ${show(x)}`);
        strictFields(x, `spec.dnsConfig.options[${i}]`, POD_FIELDS.dnsOption);
        const n = str(`spec.dnsConfig.options[${i}].name`, x["name"]);
        return x["value"] === undefined || x["value"] === null
          ? n
          : `${n}:${str(`spec.dnsConfig.options[${i}].value`, x["value"])}`;
      }),
    };
  }
  return { namespace, name, uid, annotations, hostNetwork, portMappings, ...(dns ? { dns } : {}) };
}

/**
 * Parses the one YAML (or JSON) document of a manifest into plain data (not yet validated), within
 * MAX_MANIFEST_BYTES, MAX_YAML_DEPTH and MAX_YAML_ALIASES.
 */
export function parsePodDocument(text: string): unknown {
  if (text.length > MAX_MANIFEST_BYTES || Buffer.byteLength(text) > MAX_MANIFEST_BYTES) {
    throw new PodManifestError("", `the manifest is larger than ${formatBytes(MAX_MANIFEST_BYTES)}`);
  }
  try {
    return parseYamlDocument(text, {
      what: "the manifest",
      maxDepth: MAX_YAML_DEPTH,
      maxAliases: MAX_YAML_ALIASES,
      tooMany: (n) => `expected one Pod, the file holds ${n} documents`,
    });
  } catch (e) {
    if (e instanceof YamlInputError) throw new PodManifestError("", e.message);
    throw e;
  }
}

/** Parses and validates one Pod from YAML (or JSON) text. */
export function parsePodManifest(text: string): PodSpec {
  return podFromObject(parsePodDocument(text));
}

/** The `dns` option (CRI DNSConfig JSON) SetUpPod receives. */
export const dnsOption = (d: PodDnsConfig): string =>
  JSON.stringify({ servers: d.servers, searches: d.searches, options: d.options });
