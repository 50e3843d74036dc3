#!/usr/bin/env bash
# Print the path of a Python that imports python-etcd 0.4.5 (for the test that a
# Python and a Rust process share one lock), installing it when missing:
#   - python3 itself, if it already imports `etcd`;
#   - else a virtual environment under ${ETCD_V2_CACHE:-$HOME/.cache/etcd-v2}/venv-python-etcd,
#     with python-etcd==0.4.5 installed into it by its pip (Debian's own python3 refuses
#     system-wide pip installs, PEP 668). Debian ships `python3 -m venv` apart: when it is
#     missing, python3-venv is installed with apt-get (as root, or with sudo).
# Exit status 3: it could not be provided (the reason is on stderr).
set -euo pipefail
CACHE=${ETCD_V2_CACHE:-${HOME:-/tmp}/.cache/etcd-v2}
VENV="$CACHE/venv-python-etcd"
imports() { "$1" -c 'import etcd' > /dev/null 2>&1; }

if imports python3; then command -v python3; exit 0; fi
if [ -x "$VENV/bin/python" ] && imports "$VENV/bin/python"; then echo "$VENV/bin/python"; exit 0; fi
command -v python3 > /dev/null 2>&1 || { echo "python-etcd.sh: python3 is not installed (apt-get install -y python3)" >&2; exit 3; }

mkdir -p "$CACHE"
# One install at a time (test processes may ask at once): the others wait, then
# find it made.
exec 9> "$CACHE/venv-python-etcd.lock"
flock 9
if [ -x "$VENV/bin/python" ] && imports "$VENV/bin/python"; then echo "$VENV/bin/python"; exit 0; fi
echo "python-etcd.sh: installing python-etcd==0.4.5 into $VENV" >&2
rm -rf "$VENV"
if ! python3 -m venv "$VENV" >&2; then
  rm -rf "$VENV"
  if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
  echo "python-etcd.sh: python3 -m venv failed; installing Debian's python3-venv" >&2
  apt_install() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >&2; }
  apt_install || { "${sudo[@]}" apt-get update >&2 && apt_install; } ||
    { echo "python-etcd.sh: could not install python3-venv (apt-get install -y python3-venv)" >&2; exit 3; }
  python3 -m venv "$VENV" >&2 || { echo "python-etcd.sh: python3 -m venv $VENV failed" >&2; exit 3; }
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check python-etcd==0.4.5 >&2 ||
  { echo "python-etcd.sh: pip could not install python-etcd==0.4.5 into $VENV" >&2; exit 3; }
imports "$VENV/bin/python" || { echo "python-etcd.sh: $VENV/bin/python still cannot import etcd" >&2; exit 3; }
echo "$VENV/bin/python"
