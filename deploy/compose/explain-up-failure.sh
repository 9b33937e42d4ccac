#!/usr/bin/env bash
# `make up` failed: say why in the newcomer's words when the base image could not be pulled
# (no registry reachable), and how to build on another base. Always exits 1.
set -uo pipefail
log=$1 base=${2:-python:3.11-slim-bookworm}  # the Dockerfile's default
# podman: "initializing source docker://<base>: ..."; docker: "failed to resolve source
# metadata for <base>", "pull access denied for <base>"
if grep -F "$base" "$log" \
    | grep -qiE "initializing source|resolve source metadata|pull access denied|manifest unknown|failed to pull"; then
  cat >&2 <<MSG

make up: the images are built FROM $base
(the Dockerfile's BASE_IMAGE), which could not be pulled: no image registry answers here.
Build on a base this machine has instead, e.g. a Debian made with debootstrap (on a bare
Debian the Dockerfile installs python3 from apt):

  debootstrap --variant=minbase bookworm /tmp/rootfs
  tar -C /tmp/rootfs -c . | podman import - localhost/bookworm-min
  make up BASE_IMAGE=localhost/bookworm-min

Or set S3TASKS_BASE_IMAGE in the env file. MinIO, PostgreSQL and Redis are official images
that cannot be pulled either: to run only s3tasks' own containers against the PostgreSQL,
Redis and S3 of this machine, add COMPOSE_OVERRIDE=deploy/compose/host-services.yml
(README, "Containers and Kubernetes"). Behind a TLS-intercepting proxy add BUILD_CA=<its CA
bundle>.
MSG
else
  echo "make up: compose failed (its output above, and in $log)" >&2
fi
exit 1
