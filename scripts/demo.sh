#!/usr/bin/env bash
# The demo: installs etcd if needed, starts a throwaway member on a free loopback
# port, runs the tour (examples/demo.rs) against it, and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/etcd.sh ensure > /dev/null
cargo build --quiet --example demo
state=$(mktemp -d "${TMPDIR:-/tmp}/etcd-v2-demo.XXXXXX")
trap 'bash scripts/etcd.sh stop "$state"' EXIT
endpoints=$(bash scripts/etcd.sh start "$state" 1 $$ | sed -n 's/^ENDPOINTS=//p')
echo "started a throwaway etcd at $endpoints (state in $state)"
cargo run --quiet --example demo -- "$endpoints"
