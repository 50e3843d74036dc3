#!/usr/bin/env bash
# The demo: installs etcd if needed, starts a throwaway three-member cluster on
# free loopback ports, runs the tour (examples/demo.rs) against it (which kills
# one member to show failover), then the async tour (examples/async_tour.rs);
# then starts one more member without v2 and runs the bridge tour
# (examples/bridge_tour.rs: the same v2 program over v2 and over the v3
# bridge, and a v2 tree copied onto the bridge); then the etcd-v2 command-line
# tool (cli/) on both; and stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/etcd.sh ensure > /dev/null
cargo build --quiet --features reqwest --example demo --example async_tour --example bridge_tour
cargo build --quiet -p etcd-v2-cli
state=$(mktemp -d "${TMPDIR:-/tmp}/etcd-v2-demo.XXXXXX")
v3state=$(mktemp -d "${TMPDIR:-/tmp}/etcd-v2-demo-v3.XXXXXX")
trap 'bash scripts/etcd.sh stop "$state"; bash scripts/etcd.sh stop "$v3state"' EXIT
endpoints=$(bash scripts/etcd.sh start "$state" 3 $$ | sed -n 's/^ENDPOINTS=//p')
echo "started a throwaway three-member etcd cluster at $endpoints"
cargo run --quiet --features reqwest --example demo -- "$endpoints" "$state"
# The async client, against the members the tour left running.
live=$(cat "$state/live-endpoints" 2> /dev/null || echo "$endpoints")
cargo run --quiet --features reqwest --example async_tour -- "$live"
# A member without v2 (as etcd 3.6 and later are), for the bridge.
v3only=$(ETCD_V2_FLAGS=v3only bash scripts/etcd.sh start "$v3state" 1 $$ | sed -n 's/^ENDPOINTS=//p')
echo "started a throwaway etcd member without v2 at $v3only"
cargo run --quiet --features reqwest --example bridge_tour -- "$live" "$v3only"
# The command-line tool: etcdctl's v2 commands, on v2 and over the bridge.
cli=target/debug/etcd-v2
show() {
  echo "\$ etcd-v2 $*"
  local status=0
  "$cli" "$@" || status=$?
  [ "$status" = 0 ] || echo "(exit status $status)"
}
echo
echo "== the etcd-v2 command-line tool (cargo install --path cli): etcdctl's v2 commands"
export ETCDCTL_ENDPOINTS=$live
show set /demo-cli/greeting hello
show -o extended get /demo-cli/greeting
show mk --in-order /demo-cli/queue job1
show ls -r --sort /demo-cli
show get /demo-cli/missing
show member list
show cluster-health
show lock --ttl 10 demo-cli -- sh -c 'echo "  (a command running under the lock /_locks/demo-cli)"'
show --endpoints "$v3only" --bridge /demo-cli-bridge copy --from "$live" /demo-cli
show --endpoints "$v3only" --bridge /demo-cli-bridge ls -r --sort /demo-cli
