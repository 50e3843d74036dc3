#!/usr/bin/env bash
# The test suite: installs etcd (and python-etcd, for the lock interoperability
# test) if needed (the integration tests start their own throwaway members through
# scripts/etcd.sh), then runs every test with every feature: unit, capture,
# request, driver and integration tests, and doctests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/etcd.sh ensure > /dev/null
# python-etcd, for the test that a Python and a Rust process share one lock.
if ! python3 -c 'import etcd' 2> /dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check python-etcd==0.4.5 >&2 ||
    echo "test.sh: could not install python-etcd; the lock interoperability test will fail" >&2
fi
cargo test --all-features "$@"
