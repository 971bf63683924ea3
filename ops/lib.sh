# Shared by the ops/ scripts: where builds go, and installing what the build needs.
# shellcheck shell=bash

# One cargo target directory shared by every checkout on this machine (CI clones included), so a
# fresh clone reuses earlier builds. Override with CARGO_TARGET_DIR.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aurora/target}"

# Debian packages the build needs: RocksDB (linked, not compiled; see README "Which RocksDB")
# and libclang for the bindings generator.
AURORA_APT_PACKAGES=(librocksdb-dev libclang-dev pkg-config)
# What only the tests need: headless Chromium for the browser test
# (services/scheduler/tests/browser.rs), which drives /usr/bin/chromium over the DevTools protocol,
# nats-server (2.9 or newer; Debian bookworm's is 2.9.10) for the JetStream mirror's tests, and
# python3 for the Aurora end-to-end configs whose processes run Python
# (services/scheduler/tests/aurora_e2e_jobs.rs), and gdb, with which the replicated tests print
# where a replica that stopped answering is stuck (services/scheduler/tests/replicas/).
AURORA_TEST_APT_PACKAGES=(chromium nats-server python3 gdb)

apt_missing() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  echo "${missing[@]}"
}

# Installs Debian packages that are missing, as root or through sudo.
apt_install() {
  local missing
  missing=$(apt_missing "$@")
  [ -z "$missing" ] && return 0
  echo "installing Debian packages: $missing" >&2
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
      echo "error: missing packages ($missing) and not root; install them with apt-get" >&2
      return 1
    fi
  fi
  # shellcheck disable=SC2086
  "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq $missing >&2
}

# Installs the build's Debian packages and any extra ones named (one apt-get update for all).
install_build_deps() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found; install a Rust toolchain (https://rustup.rs) first" >&2
    return 1
  fi
  apt_install "${AURORA_APT_PACKAGES[@]}" "$@"
}

# Removes build outputs nothing has read for three days from the shared target directory: each
# change of a test's dependencies leaves its old binaries behind (hundreds of MB apiece), and
# over weeks of runs they fill the disk. What a build still uses is read at every build (the
# file system records reads at least daily), and anything removed by mistake is rebuilt.
prune_stale_builds() {
  local dir
  for dir in "$CARGO_TARGET_DIR"/debug/deps "$CARGO_TARGET_DIR"/debug/incremental \
    "$CARGO_TARGET_DIR"/release/deps "$CARGO_TARGET_DIR"/release/incremental; do
    [ -d "$dir" ] || continue
    find "$dir" -mindepth 1 -maxdepth 1 -atime +3 -exec rm -rf {} + 2>/dev/null || true
  done
}

# The build's packages plus the tests' (Chromium, nats-server, python3).
install_test_deps() {
  install_build_deps "${AURORA_TEST_APT_PACKAGES[@]}"
}
