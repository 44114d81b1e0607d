#!/usr/bin/env bash
# A usagebook cluster in network namespaces on this machine (see deploy/cluster.py):
#   deploy/cluster.sh up | status | kill NAME | start NAME | down
# Installs what it needs when missing: the checkout into .venv, and Debian's haproxy,
# redis-server and postgresql-15-auto-failover packages. Needs root (namespaces, veth, bridge).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/usagebook ]; then
  make install >&2
fi
missing=()
command -v haproxy >/dev/null || missing+=(haproxy)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v pg_autoctl >/dev/null || missing+=(postgresql-15-auto-failover pg-auto-failover-cli)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >&2 || { apt-get update -q >&2 && apt-get install -y -q "${missing[@]}" >&2; }
fi
exec python3 deploy/cluster.py "$@"
