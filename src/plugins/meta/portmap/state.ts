// Per-attachment state: exactly what an ADD installed, so that DEL needs only the attachment's
// identity (network, container ID, ifname) — no port mappings, no netns, no listing of the rule
// set (the store is attachment-state.ts, shared with bandwidth).
//
// `scope` ties the file to one boot of one network namespace: after a reboot (rules gone, files
// kept) a stale file must not make DEL remove a key that another pod holds now.
import { AttachmentStore } from "../attachment-state.js";
import type { Backend } from "./config.js";
import type { IptFamilyState } from "./iptables.js";
import type { NftElement } from "./nftables.js";

export const DEFAULT_DATA_DIR = "/var/lib/cni/podnet-portmap";

export interface UdpFlow {
  readonly family: 4 | 6;
  readonly hostPort: number;
  readonly podIP: string;
}

export interface PortmapState {
  readonly version: 1;
  readonly scope: string;
  readonly backend: Backend;
  readonly network: string;
  readonly containerID: string;
  readonly ifName: string;
  /** nftables: the attachment's chain and the map elements that jump to it. */
  readonly chain?: string;
  readonly elements?: readonly NftElement[];
  /** iptables: per family ("4"/"6"), the rules this attachment appended. */
  readonly iptables?: Readonly<Record<string, IptFamilyState>>;
  /** UDP host ports (their conntrack entries are flushed on DEL too). */
  readonly udp: readonly UdpFlow[];
}

export type { StateFs } from "../attachment-state.js";

/** Portmap's state files (see attachment-state.ts). */
export class StateStore extends AttachmentStore<PortmapState> {}
