#!/usr/bin/env bash
# Throwaway etcd members for the demo, the tests and the benchmarks.
#
#   scripts/etcd.sh find                 print the path of an etcd that serves the v2 API, or fail
#                                        with the command that installs one
#   scripts/etcd.sh ensure               the same, installing Debian's etcd-server when it is missing
#   scripts/etcd.sh start DIR [N] [OWNER_PID] [EXTRA_FLAGS...]
#                                        start N members (default 1) on free loopback ports, state in DIR;
#                                        prints "ENDPOINTS=http://127.0.0.1:P1,..." and "PIDS=..." when
#                                        every member answers /health. With OWNER_PID, a watchdog stops
#                                        the members and removes DIR once that process has exited.
#                                        EXTRA_FLAGS (e.g. TLS options) are passed to every member.
#   scripts/etcd.sh stop DIR             stop every member of DIR (SIGTERM, then SIGKILL) and remove DIR
#   scripts/etcd.sh kill DIR I [SIGNAL]  send SIGNAL (default KILL) to member I (1-based) and wait for it
#   scripts/etcd.sh restart DIR I        start member I again with its data dir and flags
#
# Environment: ETCD_BIN overrides the etcd binary; ETCD_SCHEME=https makes client URLs https,
# and then ETCD_HEALTH_CURL_ARGS gives curl the TLS options its health check needs
# (e.g. "--cacert ca.pem --cert client.pem --key client.key").
# Traffic stays on 127.0.0.1. Members are stopped by the PIDs recorded in DIR/m<I>/pid.
set -euo pipefail

die() { echo "etcd.sh: $*" >&2; exit 1; }
INSTALL_HINT="install it with: apt-get install -y etcd-server (or set ETCD_BIN to an etcd 3.4/3.5 binary)"

find_etcd() {
  local bin="${ETCD_BIN:-}"
  if [ -z "$bin" ]; then
    bin=$(command -v etcd 2>/dev/null || true)
  fi
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    return 1
  fi
  # v2 is served by etcd 3.4 and 3.5 (with --enable-v2); etcd 3.6 removed it.
  local version
  version=$("$bin" --version 2>/dev/null | sed -n 's/^etcd Version: //p')
  case "$version" in
    3.4.*|3.5.*) ;;
    *) echo "etcd.sh: $bin is etcd '$version'; the v2 API needs etcd 3.4 or 3.5" >&2; return 1 ;;
  esac
  echo "$bin"
}

ensure_etcd() {
  if find_etcd 2>/dev/null; then return 0; fi
  echo "etcd.sh: no etcd 3.4/3.5 found; installing Debian's etcd-server" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server >&2 ||
    { $sudo apt-get update >&2 && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server >&2; } ||
    die "could not install etcd-server; $INSTALL_HINT"
  # The package may start a system etcd on 2379; our members never use that port.
  find_etcd || die "etcd-server installed but no usable etcd on PATH"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

random_port() {
  local p
  while :; do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    port_in_use "$p" || { echo "$p"; return; }
  done
}

# GET a path over plain HTTP with bash's /dev/tcp (no curl needed); prints the body.
http_get() {
  local port=$1 path=$2
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$1" >&3
    cat <&3' "$port" "$path" 2>/dev/null || true
}

member_healthy() {
  local dir=$1
  if [ "$(cat "$dir/scheme")" = https ]; then
    # A TLS member: ask with curl, trusting the CA the caller configured.
    local args=()
    [ -f "$dir/../curl-args" ] && read -r -a args < "$dir/../curl-args"
    curl -s --max-time 3 "${args[@]}" "$(cat "$dir/client_url")/health" 2>/dev/null | grep -q '"health":"true"'
  else
    http_get "$(cat "$dir/client_port")" /health | grep -q '"health":"true"'
  fi
}

launch_member() {
  local dir=$1
  local cmd
  mapfile -t cmd < "$dir/cmd"
  # setsid: the member must not die with the caller's terminal or process group, and must
  # not hold the caller's stdout open (a test harness waits for EOF on it).
  setsid "${cmd[@]}" >>"$dir/log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
}

start_cluster() {
  local state=$1 n=${2:-1} owner=${3:-}
  shift $(( $# < 3 ? $# : 3 ))
  local extra=("$@")
  case "$n" in ''|*[!0-9]*) die "member count must be a number, got '$n'";; esac
  [ "$n" -ge 1 ] || die "need at least one member"
  local bin
  bin=$(find_etcd) || die "no etcd found; $INSTALL_HINT"
  local scheme=${ETCD_SCHEME:-http}
  mkdir -p "$state"
  printf '%s\n' "${ETCD_HEALTH_CURL_ARGS:-}" > "$state/curl-args"
  local attempt
  for attempt in 1 2 3 4 5; do
    local i cluster="" token="etcd-v2-test-$$-$RANDOM"
    local -a cports pports
    for i in $(seq 1 "$n"); do
      cports[i]=$(random_port); pports[i]=$(random_port)
      cluster+="${cluster:+,}m$i=http://127.0.0.1:${pports[i]}"
    done
    for i in $(seq 1 "$n"); do
      local m="$state/m$i"
      rm -rf "$m"; mkdir -p "$m/data"
      echo "$scheme" > "$m/scheme"
      echo "${cports[i]}" > "$m/client_port"
      echo "$scheme://127.0.0.1:${cports[i]}" > "$m/client_url"
      printf '%s\n' "$bin" --name "m$i" --data-dir "$m/data" --enable-v2=true \
        --listen-client-urls "$scheme://127.0.0.1:${cports[i]}" \
        --advertise-client-urls "$scheme://127.0.0.1:${cports[i]}" \
        --listen-peer-urls "http://127.0.0.1:${pports[i]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${pports[i]}" \
        --initial-cluster "$cluster" --initial-cluster-token "$token" \
        --initial-cluster-state new --logger zap --log-level warn \
        ${extra[@]+"${extra[@]}"} > "$m/cmd"
      launch_member "$m"
    done
    # Wait up to 30 s for every member to report health (a leader exists).
    local deadline=$(( SECONDS + 30 )) ok=0
    while [ $SECONDS -lt $deadline ]; do
      ok=1
      for i in $(seq 1 "$n"); do
        local pid; pid=$(cat "$state/m$i/pid")
        if ! alive "$pid"; then ok=dead; break; fi
        member_healthy "$state/m$i" || { ok=0; break; }
      done
      [ "$ok" = 1 ] && break
      [ "$ok" = dead ] && break
      sleep 0.1
    done
    if [ "$ok" = 1 ]; then
      local endpoints="" pids=""
      for i in $(seq 1 "$n"); do
        endpoints+="${endpoints:+,}$(cat "$state/m$i/client_url")"
        pids+="${pids:+,}$(cat "$state/m$i/pid")"
      done
      echo "$endpoints" > "$state/endpoints"
      if [ -n "$owner" ]; then
        # Watchdog: stop the members once the owner (a test binary) has exited.
        setsid bash "$0" __watch "$state" "$owner" > /dev/null 2>&1 < /dev/null &
      fi
      echo "ENDPOINTS=$endpoints"
      echo "PIDS=$pids"
      return 0
    fi
    # A port was taken between the check and the bind, or etcd failed: show why, then retry.
    for i in $(seq 1 "$n"); do
      kill -9 "$(cat "$state/m$i/pid" 2>/dev/null)" 2>/dev/null || true
    done
    echo "etcd.sh: attempt $attempt failed; last log lines:" >&2
    for i in $(seq 1 "$n"); do tail -n 3 "$state/m$i/log" >&2 2>/dev/null || true; done
  done
  die "could not start $n etcd member(s) after 5 attempts (logs in $state)"
}

# Whether a process still runs. A killed member is reparented to PID 1, which may
# take a second to reap it; a zombie has stopped serving, so it counts as dead.
alive() {
  local state
  if [ -r "/proc/$1/stat" ]; then
    state=$(sed 's/^[0-9]* (.*) \([A-Za-z]\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
  else
    kill -0 "$1" 2>/dev/null
  fi
}

stop_member() {
  local m=$1 pid
  pid=$(cat "$m/pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

stop_cluster() {
  local state=$1 m
  [ -d "$state" ] || return 0
  for m in "$state"/m*; do [ -d "$m" ] && stop_member "$m"; done
  rm -rf "$state"
}

kill_member() {
  local state=$1 i=$2 sig=${3:-KILL} pid
  pid=$(cat "$state/m$i/pid") || die "no member $i in $state"
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 500); do alive "$pid" || return 0; sleep 0.01; done
  die "member $i (pid $pid) did not exit after SIG$sig"
}

restart_member() {
  local state=$1 i=$2 m="$1/m$2"
  [ -f "$m/cmd" ] || die "no member $i in $state"
  if alive "$(cat "$m/pid")"; then die "member $i is still running"; fi
  launch_member "$m"
  echo "PID=$(cat "$m/pid")"
}

watch_owner() {
  local state=$1 owner=$2
  while alive "$owner" && [ -d "$state" ]; do sleep 0.5; done
  stop_cluster "$state"
}

cmd=${1:-}
shift || true
case "$cmd" in
  find) find_etcd || die "no etcd found; $INSTALL_HINT" ;;
  ensure) ensure_etcd ;;
  start) [ $# -ge 1 ] || die "usage: $0 start DIR [N] [OWNER_PID] [EXTRA_FLAGS...]"; start_cluster "$@" ;;
  stop) [ $# -eq 1 ] || die "usage: $0 stop DIR"; stop_cluster "$1" ;;
  kill) [ $# -ge 2 ] || die "usage: $0 kill DIR I [SIGNAL]"; kill_member "$@" ;;
  restart) [ $# -eq 2 ] || die "usage: $0 restart DIR I"; restart_member "$@" ;;
  __watch) watch_owner "$@" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
