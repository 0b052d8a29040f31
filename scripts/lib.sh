# Shared by the setup scripts (sourced, after they define `say`).

# Sets SUDO to "" as root, else to "sudo" where there is one; otherwise says why root is
# needed ($1) and exits non-zero.
need_root() {
  SUDO=""
  [ "$(id -u)" = 0 ] && return 0
  if command -v sudo >/dev/null; then SUDO="sudo"; return 0; fi
  say "need root to $1 (no sudo found)."
  exit 1
}
