// Where podnet's own CNI plugins are: build/cni of this package (node scripts/build.mjs puts them
// there). kubenet searches this directory first — the role /opt/cni/bin had for the kubelet.
// To make kubenet prefer another directory, change KUBENET_PRIMARY_BIN_DIR (one constant).
import { fileURLToPath } from "node:url";

/** <package>/build/cni, resolved from this file's place in dist/src/netmgr/daemon/. */
export const PODNET_CNI_BIN_DIR = fileURLToPath(new URL("../../../../build/cni", import.meta.url));

/** The directory kubenet searches before --cni-bin-dir (the kubelet's was "/opt/cni/bin"). */
export const KUBENET_PRIMARY_BIN_DIR = PODNET_CNI_BIN_DIR;

/** The kubelet's CNI defaults. */
export const DEFAULT_CNI_BIN_DIR = "/opt/cni/bin";
export const DEFAULT_CNI_CONF_DIR = "/etc/cni/net.d";
export const DEFAULT_CNI_CACHE_DIR = "/var/lib/cni/cache";

/** podnet's own defaults. */
export const DEFAULT_SOCKET = "/run/podnet/podnet.sock";
export const DEFAULT_STATE_DIR = "/var/lib/podnet";
