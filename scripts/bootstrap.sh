#!/usr/bin/env bash
# Installs what `make` needs on a fresh Debian/Ubuntu machine with Python 3.11+:
# uv (from PyPI, into .tools/ when not on PATH), the locked Python environment, and with
# `--system` the Debian packages the tests drive (Chromium for the browser tests, Ceph's
# radosgw as the tests' S3 server).
set -euo pipefail
cd "$(dirname "$0")/.."

want_system=false
for arg in "$@"; do
  [ "$arg" = "--system" ] && want_system=true
done

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "bootstrap: need root (or sudo) for: $*" >&2; return 1; fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  # wait for another apt or dpkg (unattended-upgrades on a new machine) instead of failing
  local lock=(-o DPkg::Lock::Timeout=600)
  as_root apt-get "${lock[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get "${lock[@]}" install -y -qq \
    --no-install-recommends "${missing[@]}"
}

# The first interpreter that runs and is 3.11+ (a pyenv shim may exist and still fail).
python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
    python=$(command -v "$candidate"); break
  fi
done
[ -n "$python" ] || { echo "bootstrap: Python 3.11+ is required" >&2; exit 1; }

if ! command -v uv >/dev/null 2>&1 && [ ! -x .tools/venv/bin/uv ]; then
  echo "bootstrap: installing uv into .tools/venv"
  if ! "$python" -m venv .tools/venv 2>/dev/null; then
    apt_install python3-venv
    rm -rf .tools/venv && "$python" -m venv .tools/venv
  fi
  .tools/venv/bin/pip install --quiet --disable-pip-version-check uv
fi

if $want_system; then
  # curl for the terminal tests (the client people upload with); Chromium for the browser
  # tests; libfaketime to run a worker with a skewed clock; a single-node Ceph (mon, osd, radosgw) as the tests' and benchmarks' S3 server; nginx as
  # the load balancer (and ingress) in front of replicas, with its stream module as the
  # Service (kube-proxy) between replicas
  apt_install curl chromium fonts-dejavu-core libfaketime ceph-mon ceph-osd radosgw ceph-common nginx \
    libnginx-mod-stream
  # podman (and what it builds the images with) for the container, compose and chart tests:
  # here, once, rather than by each test worker that needs it (two at once fought over apt's
  # lock, and the loser skipped its tests)
  apt_install podman runc debootstrap uidmap catatonit
  # the browser tests run axe-core (the accessibility engine) from the frontend's locked
  # devDependencies; the committed bundle itself needs no node
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  if [ ! -f services/web/frontend/node_modules/axe-core/axe.min.js ]; then
    echo "bootstrap: installing the frontend's packages (npm ci in services/web/frontend)"
    (cd services/web/frontend && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

uv=$(command -v uv || echo .tools/venv/bin/uv)
export UV_PYTHON_DOWNLOADS=never
# Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set (CI, these machines) no
# process writes a .pyc, so each service start (hundreds in the suite) compiled every module it
# imports from source again, about 6 s of CPU for web or storage-api here, 0.4 s with them.
"$uv" sync --frozen --python "$python" --quiet --compile-bytecode
.venv/bin/python -m compileall -q -j 0 services/*/src packages/*/src bench >/dev/null
