#!/usr/bin/env bash
# The test suite: installs etcd if needed (the integration tests start their own
# throwaway members through scripts/etcd.sh), then runs every test with every
# feature: unit, capture, request, driver and integration tests, and doctests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/etcd.sh ensure > /dev/null
cargo test --all-features "$@"
