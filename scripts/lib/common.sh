# Shared by scripts/*: dependency installation and the build. Source it; do not run it.
# Everything here is idempotent: it installs only what is missing and rebuilds incrementally.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${ROOMCAST_BUILD_DIR:-$ROOT/build}"

# Debian packages the build and the tests need (Debian 12).
DEB_PACKAGES=(
  g++ cmake make pkg-config ccache git ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  nodejs npm
)

log() { printf '\033[1m[roomcast]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; return 1; fi
}

ensure_debian_packages() {
  local missing=()
  local pkg
  for pkg in "${DEB_PACKAGES[@]}" "$@"; do
    # node may come from elsewhere (nodesource, nvm); only install Debian's when absent.
    if [ "$pkg" = nodejs ] && command -v node >/dev/null; then continue; fi
    if [ "$pkg" = npm ] && command -v npm >/dev/null; then continue; fi
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

# npm ci in $1 when node_modules is missing or older than the lockfile.
ensure_npm_packages() {
  local dir="$1"
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    log "installing npm packages in ${dir#"$ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# Configures (once) and builds every target, Release, on all cores.
build_all() {
  local jobs
  jobs="$(nproc)"
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    log "configuring $BUILD_DIR"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  log "building ($jobs jobs)"
  cmake --build "$BUILD_DIR" -j "$jobs" "$@"
}
