#!/usr/bin/env bash
# Checks the demo's output (bash scripts/demo.sh > target/demo.log): the
# blocking tour shows the lock guard keeping a lock past its TTL, the lock
# passing on at release, and a leader campaign with resign; the async tour
# runs against the members left alive and never names the member the
# failover part killed. Usage: bash scripts/check-demo-log.sh [LOG]
set -euo pipefail
log=${1:-target/demo.log}
fail() { echo "check-demo-log: $*" >&2; exit 1; }
[ -s "$log" ] || fail "no demo output in $log"
# The blocking tour's lock and leader part, in order.
section=$(sed -n '/^== locks and leader election ==$/,/^== failover ==$/p' "$log")
[ -n "$section" ] || fail "no '== locks and leader election ==' section"
for line in \
  'renewed by the guard' \
  "another contender's try_acquire: false" \
  'past the TTL: still held = true' \
  'released' \
  "the other contender's try_acquire now: true" \
  'campaign for /demo/leader: elected' \
  'elected = false' \
  'resigned; leader now None'; do
  grep -qF -- "$line" <<< "$section" || fail "the lock and leader part lacks: $line"
done
# The member the failover part killed, and the async tour after it.
grep -qF -- 'the same leaves: true' "$log" || fail "the borrowed listing differs from the owned one"
killed=$(sed -n 's/^  pinned to \([^ ]*\) .*killing it.*/\1/p' "$log")
[ -n "$killed" ] || fail "the failover part names no killed member"
tour=$(sed -n '/^== async tour against /,/^  done: \/async-demo removed$/p' "$log")
[ -n "$tour" ] || fail "no complete async tour"
if grep -qwF -- "$killed" <<< "$tour"; then
  fail "the async tour names $killed, the member the demo killed"
fi
for line in 'locked increments = 40' 'elected leader of /async-demo/leader' 'renewed in the background): true'; do
  grep -qF -- "$line" <<< "$tour" || fail "the async tour lacks: $line"
done
echo "check-demo-log: the lock, leader and async parts are there; the async tour avoids the killed member ($killed)"
