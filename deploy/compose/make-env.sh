#!/usr/bin/env bash
# Writes the env file of `make up` (default build/compose.env) once: the example's settings
# with every dev-only secret replaced by a random one. An existing file is left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/compose.env}
[ -f "$out" ] && exit 0
mkdir -p "$(dirname "$out")"
umask 077
while IFS= read -r line; do
  if [[ $line =~ ^([A-Z0-9_]+)=dev-only- ]]; then
    echo "${BASH_REMATCH[1]}=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
  else
    echo "$line"
  fi
done < deploy/compose.env.example > "$out"
echo "make-env: wrote $out with random secrets"
