#!/usr/bin/env bash
# Fuzz every target (or the ones named) for the given number of seconds each:
#
#   bash scripts/fuzz.sh 600                # 10 minutes per target
#   bash scripts/fuzz.sh 30 parse keys      # a smoke run of two targets
#
# Installs cargo-fuzz if it is missing. cargo-fuzz needs nightly compiler flags
# (sanitizers): it uses the nightly toolchain when rustup has one, and otherwise
# the stable compiler with RUSTC_BOOTSTRAP=1. The corpora (fuzz/corpus/<target>)
# are seeded from the captured etcd exchanges in tests/fixtures/captures and kept
# between runs. A crash leaves its input in fuzz/artifacts/<target>/ and makes the
# script fail; copy the input to fuzz/regressions/<target>/ once it is fixed, so
# that `cargo test` replays it (tests/fuzz_regressions.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:?usage: scripts/fuzz.sh <seconds per target> [target...]}"
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse keys watch lock campaign memory)

if ! cargo fuzz --version > /dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --quiet
fi
toolchain=()
if rustup run nightly rustc --version > /dev/null 2>&1; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi

# Seed (idempotent: the same file names every time).
cargo run --quiet --manifest-path fuzz/Cargo.toml --bin seed -- tests/fixtures/captures fuzz/corpus

cargo "${toolchain[@]}" fuzz build --fuzz-dir fuzz

failed=()
summary=()
for target in "${targets[@]}"; do
  log="fuzz/${target}.log"
  echo "==> $target: ${seconds}s" >&2
  status=0
  cargo "${toolchain[@]}" fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    > "$log" 2>&1 || status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
  corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    result="no crash"
  else
    result="CRASH (exit $status): see $log and fuzz/artifacts/$target/"
    failed+=("$target")
    grep -E "panicked at|^ *[a-z].*assert|SUMMARY" "$log" | head -5 >&2 || true
  fi
  summary+=("$(printf '%-6s %6ss  %10s runs  %7s exec/s  cov %6s  corpus %5s  %s' \
    "$target" "$seconds" "$runs" "$speed" "$cov" "$corpus" "$result")")
done

printf '\nfuzz summary (%s)\n' "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '%s\n' "${summary[@]}"
[ ${#failed[@]} -eq 0 ] || { echo "fuzz.sh: crashes in: ${failed[*]}" >&2; exit 1; }
