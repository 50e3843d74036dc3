#!/usr/bin/env bash
# MemoryEtcd (or, with --bridge, the v3 bridge on an etcd without v2) against a
# real etcd 3.4 serving v2: N random operation sequences (default 300), each
# run against both and compared answer by answer (tests/differential.rs).
# Installs etcd 3.4 first if it is missing (see scripts/etcd.sh).
#
#   bash scripts/differential.sh [N] [SEED] [--bridge]
#
# The last line reads "differential: N sequences, M operations, D differences";
# the first difference is printed in full above it.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=memory
if [ "${3:-}" = "--bridge" ]; then
  backend=bridge
elif [ -n "${3:-}" ]; then
  echo "usage: bash scripts/differential.sh [N] [SEED] [--bridge]" >&2
  exit 2
fi
ETCD_VERSION=3.4 bash scripts/etcd.sh ensure > /dev/null
DIFF_SEQUENCES=${1:-300} DIFF_SEED=${2:-1} DIFF_BACKEND=$backend ETCD_VERSION=3.4 \
  cargo test --all-features --test differential
