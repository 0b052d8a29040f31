#!/usr/bin/env bash
# Makes sure a Chromium is there for the browser tests of `lensgpu view` (driven by
# puppeteer-core, which downloads no browser). Idempotent.
#
# - LENSGPU_CHROMIUM names one, or `chromium` / `chromium-browser` / `google-chrome` is on PATH:
#   nothing to do.
# - Debian: installs Debian's `chromium` package (as root, or with sudo).
# - Other systems: says what to install and exits non-zero.
# --quiet: say nothing when there is nothing to do.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
say() { printf 'setup-browser: %s\n' "$*"; }

if [ -n "${LENSGPU_CHROMIUM:-}" ] && [ -x "$LENSGPU_CHROMIUM" ]; then
  [ "${1:-}" = --quiet ] || say "using $LENSGPU_CHROMIUM (LENSGPU_CHROMIUM)"; exit 0
fi
for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null; then
    [ "${1:-}" = --quiet ] || say "found $(command -v "$name"); nothing to install."; exit 0
  fi
done

. /etc/os-release 2>/dev/null || true
if [ "${ID:-}" != debian ]; then
  say "no Chromium found: install Chromium or Chrome, or set LENSGPU_CHROMIUM to its executable."
  exit 1
fi
need_root "install Debian's chromium; or set LENSGPU_CHROMIUM"
say "installing Debian's chromium (for the browser tests of lensgpu view)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
say "installed $(command -v chromium)"
