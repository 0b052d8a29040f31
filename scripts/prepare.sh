#!/usr/bin/env bash
# Runs before `npm run train`: on a fresh clone, installs the Node dependencies and (only where
# no usable Vulkan driver is present) Mesa's software Vulkan. Silent when all is in place.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "prepare: installing Node dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
bash scripts/setup-vulkan.sh --quiet
