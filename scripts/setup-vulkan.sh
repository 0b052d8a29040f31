#!/usr/bin/env bash
# Makes sure Dawn finds a WebGPU adapter. Idempotent.
#
# - Wherever Dawn finds an adapter (scripts/has-adapter.mjs: a GPU driver, Metal on macOS,
#   D3D12 on Windows, a Vulkan driver given by VK_DRIVER_FILES, a recent lavapipe): nothing to do.
#   Only where Dawn cannot be asked (no node_modules yet) are the Vulkan ICD folders and the
#   loader looked at instead.
# - Debian 12 without an adapter: installs Mesa's software Vulkan (lavapipe) from bookworm-backports.
#   The stock bookworm mesa (22.x) lacks features Dawn requires
#   ("shaderUniform*ArrayDynamicIndexing required"), the backports one (25.x) works.
#   The backports source reuses the mirror already configured for bookworm.
# - Other systems: says which package to install and exits non-zero.
# --quiet: say nothing when there is nothing to do (used before `npm run train`).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
say() { printf 'setup-vulkan: %s\n' "$*"; }

icd_dirs=(/usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d)
mesa_version() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true; }
mesa_major() { local v; v=$(mesa_version); v=${v#*:}; echo "${v%%.*}"; }

has_usable_driver() {
  local f found_other=0 found_lvp=0
  for d in "${icd_dirs[@]}"; do
    for f in "$d"/*.json; do
      [ -e "$f" ] || continue
      case "$(basename "$f")" in
        lvp_icd*) found_lvp=1 ;;
        *) found_other=1 ;;
      esac
    done
  done
  # Read the whole listing before matching: `ldconfig -p | grep -q` under pipefail fails when
  # grep exits at its first match and a long listing's writer then dies of SIGPIPE.
  local libs; libs=$(ldconfig -p 2>/dev/null || true)
  [[ $libs == *libvulkan.so.1* ]] || return 1
  [ "$found_other" = 1 ] && return 0
  if [ "$found_lvp" = 1 ]; then
    local major; major=$(mesa_major)
    # Not installed by dpkg (built by hand, other distro): trust it.
    [ -z "$major" ] && return 0
    [ "$major" -ge 23 ] && return 0
  fi
  return 1
}

# 0: Dawn finds an adapter; 1: it finds none; 2: Dawn cannot be asked (no node, no node_modules).
dawn_adapter() {
  local root; root=$(cd "$(dirname "$0")/.." && pwd)
  command -v node >/dev/null || return 2
  local rc=0
  adapter=$(cd "$root" && node scripts/has-adapter.mjs 2>/dev/null) || rc=$?
  case "$rc" in 0|1) return "$rc" ;; *) return 2 ;; esac
}

adapter=""
status=0; dawn_adapter || status=$?
if [ "$status" = 0 ]; then
  [ "${1:-}" = --quiet ] || say "Dawn finds an adapter ($adapter); nothing to install."
  exit 0
fi
if [ "$status" = 2 ] && has_usable_driver; then
  [ "${1:-}" = --quiet ] || say "a Vulkan driver is present; nothing to install."
  exit 0
fi

. /etc/os-release 2>/dev/null || true
if [ "${ID:-}" != debian ] || [ "${VERSION_CODENAME:-}" != bookworm ]; then
  say "no usable Vulkan driver found. Install your GPU's Vulkan driver, or Mesa's software"
  say "Vulkan (lavapipe, Mesa >= 23): 'mesa-vulkan-drivers' on Debian/Ubuntu/Fedora,"
  say "'vulkan-swrast' on Arch, 'mesa-vulkan-drivers'/'libvulkan_lvp' elsewhere, plus the"
  say "Vulkan loader (libvulkan1 / vulkan-loader)."
  exit 1
fi

need_root "install mesa-vulkan-drivers from bookworm-backports"

backports_list=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  # The mirror this machine already uses for bookworm, from deb822 or one-line sources.
  # (awk alone, no pipe: nothing can die of SIGPIPE when it stops at the first match)
  mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  if [ -z "$mirror" ]; then say "cannot find the Debian mirror in /etc/apt sources."; exit 1; fi
  say "adding bookworm-backports (mirror $mirror) as $backports_list"
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror" | $SUDO tee "$backports_list" >/dev/null
fi

say "installing mesa-vulkan-drivers and libvulkan1 from bookworm-backports (software Vulkan, lavapipe)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports \
  mesa-vulkan-drivers libvulkan1 >/dev/null
say "installed mesa-vulkan-drivers $(mesa_version)"
