#!/usr/bin/env bash
# Writes the env file of `make up` (default build/compose.env) once: the example's settings
# with every dev-only secret replaced by a random one. An existing file keeps its values and
# only gains the variables added to the example since it was written (new credentials).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/compose.env}
mkdir -p "$(dirname "$out")"
umask 077

render() {  # one line of the example, with a random value for a dev-only secret
  if [[ $1 =~ ^([A-Z0-9_]+)=dev-only- ]]; then
    echo "${BASH_REMATCH[1]}=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
  else
    echo "$1"
  fi
}

if [ ! -f "$out" ]; then
  while IFS= read -r line; do render "$line"; done < deploy/compose.env.example > "$out"
  echo "make-env: wrote $out with random secrets"
  exit 0
fi
added=()
while IFS= read -r line; do
  if [[ $line =~ ^([A-Z0-9_]+)= ]] && ! grep -q "^${BASH_REMATCH[1]}=" "$out"; then
    render "$line" >> "$out"
    added+=("${BASH_REMATCH[1]}")
  fi
done < deploy/compose.env.example
if [ ${#added[@]} -gt 0 ]; then
  echo "make-env: added to $out: ${added[*]}"
fi
