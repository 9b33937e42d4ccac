#!/usr/bin/env bash
# Runs the tests as a new machine sees them: a fresh `git clone` of HEAD in a temporary
# directory (no .venv, no .tools, no build/), podman's images, containers and build cache in a
# throwaway storage root, and empty uv and npm caches, so no cache hides a first-run path.
#   scripts/test-fresh.sh                   `make test` in the clone (what the README promises)
#   scripts/test-fresh.sh tests/deploy ...  `make install`, then only these pytest arguments
#   scripts/test-fresh.sh --keep ...        keep the temporary directory afterwards
# What stays as it was: Debian packages already installed (podman, Chromium, ...), the
# PostgreSQL and Redis the tests use. Uncommitted changes are not in the clone.
# The build/ directory of the run (test artifacts, image sizes) is copied to build/fresh/.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
keep=false
if [ "${1:-}" = "--keep" ]; then keep=true; shift; fi
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  echo "test-fresh: uncommitted changes are not tested, only HEAD $(git -C "$repo" rev-parse --short HEAD)" >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/s3tasks-fresh.XXXXXX")
store="$work/containers"
mkdir -p "$store/tmp" "$store/copy-tmp"

cleanup() {
  local rc=$?
  set +e
  # Only ever the throwaway root: check that podman answers from it before removing anything.
  if command -v podman >/dev/null \
    && [ "$(podman info --format '{{.Store.GraphRoot}}' 2>/dev/null)" = "$store/storage" ]; then
    podman pod rm --all --force --time 5 >/dev/null 2>&1
    podman rm --all --force --time 5 >/dev/null 2>&1
  fi
  # the overlay driver keeps its directory bind-mounted: unmount what is left under $work
  findmnt -rn -o TARGET | grep -F "$work/" | sort -r | while read -r mnt; do umount "$mnt"; done
  mkdir -p "$repo/build"
  rm -rf "$repo/build/fresh"
  [ -d "$work/src/build" ] && cp -a "$work/src/build" "$repo/build/fresh"
  if $keep; then echo "test-fresh: kept $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT

# podman reads these files instead of /etc/containers/*: storage, per-boot state and locks
# all under $store. Locks are files there: podman's default shared-memory locks are one set
# per machine, which another podman's reboot refresh would free under the tests' containers.
# The engine settings are the ones tests/deploy/conftest.py writes to /etc (environment.md:
# crun fails on hybrid cgroups, the default ulimits need CAP_SYS_RESOURCE).
cat >"$store/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$store/storage"
runroot = "$store/run"
EOF
cat >"$store/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
tmp_dir = "$store/tmp"
lock_type = "file"
events_logger = "file"
events_logfile_path = "$store/events.log"
image_copy_tmp_dir = "$store/copy-tmp"
EOF
export CONTAINERS_STORAGE_CONF="$store/storage.conf" CONTAINERS_CONF="$store/containers.conf"
export UV_CACHE_DIR="$work/uv-cache" npm_config_cache="$work/npm-cache"

git clone --quiet "$(git -C "$repo" rev-parse --path-format=absolute --git-common-dir)" "$work/src"
git -C "$work/src" checkout --quiet --detach "$(git -C "$repo" rev-parse HEAD)"
cd "$work/src"
echo "test-fresh: $(git log -1 --format='%h %s') in $work/src, podman storage in $store" >&2
start=$(date +%s)
if [ $# -eq 0 ]; then
  make test
else
  make install
  scripts/test.sh "$@"
fi
echo "test-fresh: passed in $(( $(date +%s) - start )) s" >&2
