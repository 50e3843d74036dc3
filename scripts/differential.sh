#!/usr/bin/env bash
# MemoryEtcd against a real etcd 3.4: N random operation sequences (default
# 300), each run against both and compared answer by answer (tests/differential.rs).
# Installs etcd 3.4 first if it is missing (see scripts/etcd.sh).
#
#   bash scripts/differential.sh [N] [SEED]
#
# The last line reads "differential: N sequences, M operations, D differences";
# the first difference is printed in full above it.
set -euo pipefail
cd "$(dirname "$0")/.."
ETCD_VERSION=3.4 bash scripts/etcd.sh ensure > /dev/null
DIFF_SEQUENCES=${1:-300} DIFF_SEED=${2:-1} ETCD_VERSION=3.4 \
  cargo test --all-features --test differential
