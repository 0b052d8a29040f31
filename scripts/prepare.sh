#!/usr/bin/env bash
# Runs before every npm script that needs it (train, lensgpu, bench, test; typecheck and build
# with --node-only): on a fresh clone, installs the Node dependencies and (only where Dawn finds
# no adapter) Mesa's software Vulkan. Silent when all is in place.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "prepare: installing Node dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
[ "${1:-}" = --node-only ] || bash scripts/setup-vulkan.sh --quiet
