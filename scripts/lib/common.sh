# Shared by scripts/*: dependency installation and the build. Source it; do not run it.
# Everything here is idempotent: it installs only what is missing and rebuilds incrementally.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${ROOMCAST_BUILD_DIR:-$ROOT/build}"

# Debian packages the build and the tests need (Debian 12).
DEB_PACKAGES=(
  g++ cmake make pkg-config ccache git ca-certificates openssl
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libprotobuf-dev protobuf-compiler libnats-dev nats-server nginx-light
  libgrpc++-dev protobuf-compiler-grpc prometheus-cpp-dev prometheus
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

# ctest in build dir $1 with the remaining arguments; a skipped test fails the run too: a
# googletest fixture whose suite set-up fails (a server that does not start) has its tests
# skipped, which CTest does not count as failures.
run_ctest() {
  local dir="$1" log
  shift
  log="$(mktemp)"
  if ! ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" --timeout 300 "$@" 2>&1 | tee "$log"; then
    rm -f "$log"
    return 1
  fi
  if grep -q '(Skipped)' "$log"; then
    grep '(Skipped)' "$log" >&2
    log "tests were skipped: each counts as a failure"
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# npm ci (when needed) and `npm run build` in web/: the demo app, built into web/dist.
build_web() {
  ensure_npm_packages "$ROOT/web"
  log "building the demo app (web/dist)"
  (cd "$ROOT/web" && npm run --silent build)
}

# ---------------------------------------------------------------------------------------------
# Local stack (scripts/up, scripts/down). Every service runs in a session of its own (setsid), so
# a Ctrl-C in the terminal reaches only scripts/up, which then stops the services in order, and
# a detached stack survives the terminal. $STACK_PIDS_FILE lists what was started, one service a
# line: "<tier> <name> <pid> <start time>". Services start tier by tier (0 first) and stop in
# the reverse order; the start time (from /proc) makes sure a recycled PID is never signalled.

# Sets STACK_STATE_DIR (absolute), STACK_LOG_DIR and STACK_PIDS_FILE from ROOMCAST_STATE_DIR.
stack_paths() {
  local dir="${ROOMCAST_STATE_DIR:-$ROOT/.roomcast}"
  case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
  STACK_STATE_DIR="$dir"
  STACK_LOG_DIR="$dir/logs"
  STACK_PIDS_FILE="$dir/pids"
}

# Prints the start time of a live (non-zombie) process, nothing if there is none.
proc_start_time() {
  local stat rest
  local -a f
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  rest="${stat##*) }" # fields from 3 on; the command name (field 2) may contain anything
  read -r -a f <<<"$rest"
  [ "${f[0]}" = Z ] || [ "${f[0]}" = X ] || printf '%s\n' "${f[19]}"
}

stack_alive() { [ -n "$2" ] && [ "$(proc_start_time "$1")" = "$2" ]; }

# True when something accepts TCP connections on host:port.
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Prints the HTTP status of GET http://host:port/path ("000" when there is no answer in 2 s).
http_status() {
  local code
  code="$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/$1/$2" || exit 0
    printf 'GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$3" "$1" "$2" >&3
    IFS=' ' read -r -t 2 _ status _ <&3 && printf '%s' "$status"
  )" || true
  printf '%s\n' "${code:-000}"
}

http_ok() { [ "$(http_status "$@")" = 200 ]; }

# stack_start TIER NAME [VAR=value ...] -- COMMAND [ARG ...]
# Starts COMMAND in its own session with the variables added to its environment, stdin from
# /dev/null and stdout/stderr appended to $STACK_LOG_DIR/NAME.log, and records it in
# $STACK_PIDS_FILE.
stack_start() {
  local tier="$1" name="$2"
  shift 2
  local -a vars=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  local logfile="$STACK_LOG_DIR/$name.log"
  (
    for kv in "${vars[@]}"; do export "${kv?}"; done
    exec setsid "$@" </dev/null >>"$logfile" 2>&1
  ) &
  local pid=$!
  printf '%s %s %s %s\n' "$tier" "$name" "$pid" "$(proc_start_time "$pid")" >>"$STACK_PIDS_FILE"
  STACK_PID["$name"]=$pid
}
declare -A STACK_PID=()

# "status N" or "killed by SIGNAME" for an exit status as bash reports it.
describe_status() {
  if [ "$1" -gt 128 ] && kill -l "$(($1 - 128))" >/dev/null 2>&1; then
    printf 'killed by SIG%s' "$(kill -l "$(($1 - 128))")"
  else
    printf 'status %s' "$1"
  fi
}

# Moves the previous run's logs aside (NAME.log → NAME.log.1), so each run starts with empty logs.
stack_rotate_logs() {
  local f
  for f in "$STACK_LOG_DIR"/*.log; do
    [ -f "$f" ] && mv -f "$f" "$f.1"
  done
  return 0
}

# Last lines of a service's log, indented, for failure messages.
stack_log_tail() {
  local logfile="$STACK_LOG_DIR/$1.log"
  printf '%s\n' "--- last lines of ${logfile#"$PWD"/} ---" >&2
  tail -n "${2:-30}" "$logfile" 2>/dev/null | sed 's/^/  /' >&2 || true
}

# stack_wait_ready NAME WHAT CHECK [ARG ...]
# Polls CHECK until it succeeds; fails (printing the log tail) when NAME exits first or when
# ROOMCAST_READY_TIMEOUT seconds (default 30) pass.
stack_wait_ready() {
  local name="$1" what="$2"
  shift 2
  local pid="${STACK_PID[$name]}" timeout="${ROOMCAST_READY_TIMEOUT:-30}"
  local deadline=$((SECONDS + timeout)) rc=0
  while ! "$@"; do
    if ! kill -0 "$pid" 2>/dev/null || [ -z "$(proc_start_time "$pid")" ]; then
      wait "$pid" 2>/dev/null || rc=$?
      log "$name exited ($(describe_status "$rc")) before it was ready"
      stack_log_tail "$name"
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$name was not ready within ${timeout}s (waiting for $what)"
      stack_log_tail "$name"
      return 1
    fi
    sleep 0.2
  done
}

# stack_stop [PIDS_FILE]
# Stops what PIDS_FILE lists, highest tier first: SIGTERM to each service of a tier, then up to
# ROOMCAST_STOP_TIMEOUT seconds (default 20) for them to exit, then SIGKILL to what is left (to
# its whole process group, which catches NGINX workers). Safe to run twice and concurrently
# with the scripts/up that wrote the file (the file is renamed first, so only one stops).
stack_stop() {
  local file="${1:-$STACK_PIDS_FILE}" work="${1:-$STACK_PIDS_FILE}.stopping"
  local timeout="${ROOMCAST_STOP_TIMEOUT:-20}"
  if [ -f "$file" ]; then
    mv -f "$file" "$work" 2>/dev/null || return 0
  elif [ ! -f "$work" ]; then
    return 0
  fi
  local -a tiers names pids starts
  local tier name pid start i t
  while read -r tier name pid start; do
    [ -n "${pid:-}" ] || continue
    tiers+=("$tier"); names+=("$name"); pids+=("$pid"); starts+=("${start:-}")
  done <"$work"
  for t in $(printf '%s\n' "${tiers[@]}" | sort -rnu); do
    local -a here=()
    for i in "${!pids[@]}"; do
      if [ "${tiers[$i]}" = "$t" ] && stack_alive "${pids[$i]}" "${starts[$i]}"; then
        here+=("$i")
        kill -TERM "${pids[$i]}" 2>/dev/null || true
      fi
    done
    [ "${#here[@]}" -gt 0 ] || continue
    local what=""
    for i in "${here[@]}"; do what+="${what:+ }${names[$i]}"; done
    log "stopping $what"
    local deadline=$((SECONDS + timeout)) left
    while :; do
      left=()
      for i in "${here[@]}"; do
        stack_alive "${pids[$i]}" "${starts[$i]}" && left+=("$i")
      done
      [ "${#left[@]}" -gt 0 ] || break
      if [ "$SECONDS" -ge "$deadline" ]; then
        for i in "${left[@]}"; do
          log "${names[$i]} (pid ${pids[$i]}) did not exit within ${timeout}s of SIGTERM: SIGKILL"
          kill -KILL -- "-${pids[$i]}" 2>/dev/null || kill -KILL "${pids[$i]}" 2>/dev/null || true
        done
        sleep 0.2
        break
      fi
      sleep 0.1
    done
  done
  rm -f "$work"
}

# NATS is closed: one user per role (k8s/helm/roomcast/files/nats-roles.json). stack_nats_users
# keeps a random password per role in $STACK_STATE_DIR/nats-passwords (mode 600, generated once),
# writes the server's users to $STACK_STATE_DIR/nats-auth.conf (give it to nats-server with -c),
# both through scripts/lib/nats-auth.mjs, and sets NATS_PASSWORD[<role>].
declare -A NATS_PASSWORD=()
stack_nats_users() {
  local role password
  if ! node "$ROOT/scripts/lib/nats-auth.mjs" local "$STACK_STATE_DIR"; then
    log "cannot prepare the NATS users in $STACK_STATE_DIR"
    return 1
  fi
  while IFS='=' read -r role password; do
    case "$role" in '' | '#'*) continue ;; esac
    NATS_PASSWORD["$role"]="$password"
  done <"$STACK_STATE_DIR/nats-passwords"
}

# Prints the VAR=value words that give a service the NATS role $1, for stack_start (through the
# environment, never the command line: ps shows that).
nats_role_env() {
  printf '%s\n' "ROOMCAST_NATS_USER=$1" "ROOMCAST_NATS_PASSWORD=${NATS_PASSWORD[$1]}"
}

# Values for scripts/lib/nginx.conf.template's per-edge placeholders, from "id=host:port" words:
# sets NGINX_EDGE_UPSTREAMS, NGINX_EDGE_BY_COOKIE, NGINX_EDGE_SPLIT and NGINX_EDGE_BY_ADDR.
# tests/e2e/lib/stack.mjs renders the same lines (nginxEdgeSnippets); keep the two in step.
nginx_edge_snippets() {
  local -a ids addrs
  local spec i j n share
  for spec in "$@"; do
    if [[ ! "${spec%%=*}" =~ ^[A-Za-z0-9_-]+$ ]]; then
      log "edge id must match [A-Za-z0-9_-]+: ${spec%%=*}"
      return 1
    fi
    ids+=("${spec%%=*}"); addrs+=("${spec#*=}")
  done
  n="${#ids[@]}"
  share=$((10000 / n))
  NGINX_EDGE_UPSTREAMS="" NGINX_EDGE_BY_COOKIE="" NGINX_EDGE_SPLIT="" NGINX_EDGE_BY_ADDR=""
  for i in "${!ids[@]}"; do
    local up="roomcast_${ids[$i]}" re="${addrs[$i]}"
    re="${re//./\\.}"; re="${re//[/\\[}"; re="${re//]/\\]}"
    NGINX_EDGE_UPSTREAMS+="    upstream $up {"$'\n'
    NGINX_EDGE_UPSTREAMS+="        server ${addrs[$i]} max_fails=1 fail_timeout=3s;"$'\n'
    for j in "${!ids[@]}"; do
      [ "$j" = "$i" ] || NGINX_EDGE_UPSTREAMS+="        server ${addrs[$j]} backup;"$'\n'
    done
    NGINX_EDGE_UPSTREAMS+="        keepalive 16;"$'\n'
    NGINX_EDGE_UPSTREAMS+="        keepalive_timeout 20s;"$'\n'
    NGINX_EDGE_UPSTREAMS+="    }"$'\n'
    NGINX_EDGE_BY_COOKIE+="        ${ids[$i]} $up;"$'\n'
    if [ "$i" -eq $((n - 1)) ]; then
      NGINX_EDGE_SPLIT+="        * $up;"$'\n'
    else
      NGINX_EDGE_SPLIT+="        $((share / 100)).$(printf '%02d' $((share % 100)))% $up;"$'\n'
    fi
    NGINX_EDGE_BY_ADDR+="        \"~(^|\\s)$re\$\" ${ids[$i]};"$'\n'
  done
  NGINX_EDGE_UPSTREAMS="${NGINX_EDGE_UPSTREAMS%$'\n'}" NGINX_EDGE_BY_COOKIE="${NGINX_EDGE_BY_COOKIE%$'\n'}"
  NGINX_EDGE_SPLIT="${NGINX_EDGE_SPLIT%$'\n'}" NGINX_EDGE_BY_ADDR="${NGINX_EDGE_BY_ADDR%$'\n'}"
}

# render_template TEMPLATE NAME=VALUE ... : prints TEMPLATE with every ${NAME} replaced by its
# VALUE (literally); fails if a ${NAME} is left without a value.
render_template() {
  local text kv name
  text="$(cat "$1")"
  shift
  for kv in "$@"; do
    name="${kv%%=*}"
    text="${text//"\${${name}}"/"${kv#*=}"}"
  done
  if [[ "$text" =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\} ]]; then
    log "render_template: no value for \${${BASH_REMATCH[1]}} in $1"
    return 1
  fi
  printf '%s\n' "$text"
}
