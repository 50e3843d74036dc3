#!/usr/bin/env bash
# The demo: installs etcd if needed, starts a throwaway three-member cluster on
# free loopback ports, runs the tour (examples/demo.rs) against it (which kills
# one member to show failover), then the async tour (examples/async_tour.rs), and
# stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/etcd.sh ensure > /dev/null
cargo build --quiet --features reqwest --example demo --example async_tour
state=$(mktemp -d "${TMPDIR:-/tmp}/etcd-v2-demo.XXXXXX")
trap 'bash scripts/etcd.sh stop "$state"' EXIT
endpoints=$(bash scripts/etcd.sh start "$state" 3 $$ | sed -n 's/^ENDPOINTS=//p')
echo "started a throwaway three-member etcd cluster at $endpoints"
cargo run --quiet --features reqwest --example demo -- "$endpoints" "$state"
# The async client, against the members the tour left running.
live=$(cat "$state/live-endpoints" 2> /dev/null || echo "$endpoints")
cargo run --quiet --features reqwest --example async_tour -- "$live"
