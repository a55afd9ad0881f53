#!/usr/bin/env bash
# Installs everything podnet needs on a Debian machine (as root) and builds it. Idempotent: a
# second run installs nothing and only rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the kernel tools podnet drives or tests against, the Go reference plugins
# (containernetworking-plugins, in /usr/lib/cni), etcd (etcd-server: the cluster store's tests and
# benchmark run a throw-away one), the toolchain for the native addon, systemd (its
# systemd-analyze verifies the units `podnet install` writes; systemd need not be running) and zsh
# (the completion script's test).
debs=(iproute2 nftables iptables containernetworking-plugins conntrack iputils-ping kmod ethtool etcd-server make g++ python3 systemd zsh)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then echo "setup: run as root to install: ${missing[*]}" >&2; exit 1; fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts a machine-wide etcd on install; podnet's tests run their own, so stop the one
  # this script just installed (an etcd the machine already had is left alone).
  if [[ " ${missing[*]} " == *" etcd-server "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now etcd.service >/dev/null 2>&1 || true
  fi
fi
command -v node >/dev/null || { echo "setup: Node.js >= 20 is required" >&2; exit 1; }

# On Node 20 this variable makes every start-up read a CA bundle (+40 ms per plugin exec).
unset NODE_EXTRA_CA_CERTS
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run -s build
