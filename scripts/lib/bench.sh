# Shared by scripts/bench: starting and stopping the systems under test and running one measured
# load. Source it after common.sh; do not run it.
#
# Every server is started with common.sh's stack_start (own session, logs in $STACK_LOG_DIR,
# recorded with its start time in $STACK_PIDS_FILE) and stopped by PID with stack_stop, so a
# benchmark never leaves a process behind and never signals a recycled PID.

BENCH_LOADGEN_CANDIDATES=(
  "$BUILD_DIR/tools/loadgen/roomcast_loadgen"
  "$ROOT/build/tools/loadgen/roomcast_loadgen"
  "$ROOT/build-loadgen/tools/loadgen/roomcast_loadgen"
)

# Prints the load generator's path: $ROOMCAST_LOADGEN, else the first candidate that exists.
bench_find_loadgen() {
  if [ -n "${ROOMCAST_LOADGEN:-}" ]; then
    printf '%s\n' "$ROOMCAST_LOADGEN"
    return 0
  fi
  local c
  for c in "${BENCH_LOADGEN_CANDIDATES[@]}"; do
    if [ -x "$c" ]; then
      printf '%s\n' "$c"
      return 0
    fi
  done
  return 1
}

# A TCP port on 127.0.0.1 that nothing listens on, below the ephemeral range (so the load
# generator's own connections cannot take it), not handed out before in this run.
declare -A BENCH_PORTS_USED=()
bench_free_port() {
  local port tries=0
  while [ "$tries" -lt 500 ]; do
    port=$((20000 + RANDOM % 12000))
    tries=$((tries + 1))
    [ -z "${BENCH_PORTS_USED[$port]:-}" ] || continue
    tcp_open 127.0.0.1 "$port" && continue
    BENCH_PORTS_USED[$port]=1
    printf '%s\n' "$port"
    return 0
  done
  log "no free TCP port found"
  return 1
}

# --- the systems under test --------------------------------------------------------------------
# Each bench_start_<system> sets:
#   BENCH_URLS     the client URLs, comma-separated (the load generator spreads over them)
#   BENCH_SERVERS  "--server name:role:pid" arguments for bench_measure.mjs, one per process
#   BENCH_CONN_PROCS  how many processes hold client connections (for descriptor limits)
BENCH_URLS=""
BENCH_SERVERS=()

bench_nats_ready() { http_ok 127.0.0.1 "$BENCH_NATS_MONITOR" '/healthz?js-enabled-only=true'; }

# Roomcast as deployed: nats-server (JetStream, data in the state directory, a user per role as
# in the local stack), the rooms service (which creates rooms on the edges' request) and $1 edges
# with $2 I/O threads each, every edge with --auto-create-prefixes '*' (rooms are created on
# first join) and without the per-socket event rate limit (--events-per-second 0: the baseline
# has none, and one fan-out publisher sends up to 200 events/s).
bench_start_roomcast() {
  local edges="$1" threads="$2" i port admin nats_port rooms_admin
  local -a nats_env
  BENCH_URLS="" BENCH_SERVERS=()
  nats_port="$(bench_free_port)" || return 1
  BENCH_NATS_MONITOR="$(bench_free_port)" || return 1
  rm -rf "$STACK_STATE_DIR/nats"
  mkdir -p "$STACK_STATE_DIR/nats"
  stack_nats_users || return 1
  stack_start 0 nats -- nats-server -c "$STACK_STATE_DIR/nats-auth.conf" -n roomcast-bench \
    -a 127.0.0.1 -p "$nats_port" -m "$BENCH_NATS_MONITOR" -js -sd "$STACK_STATE_DIR/nats" ||
    return 1
  stack_wait_ready nats "JetStream on port $nats_port" bench_nats_ready || return 1
  BENCH_SERVERS+=(--server "nats:nats:${STACK_PID[nats]}")
  rooms_admin="$(bench_free_port)" || return 1
  mapfile -t nats_env < <(nats_role_env rooms)
  stack_start 1 rooms ROOMCAST_ADMIN_TOKEN="$BENCH_ADMIN_TOKEN" "${nats_env[@]}" -- \
    "$BUILD_DIR/services/rooms/roomcast_rooms" --grpc-address "127.0.0.1:$(bench_free_port)" \
    --admin-host 127.0.0.1 --admin-port "$rooms_admin" \
    --nats-url "nats://127.0.0.1:$nats_port" --log-level warn || return 1
  stack_wait_ready rooms "/readyz" http_ok 127.0.0.1 "$rooms_admin" /readyz || return 1
  mapfile -t nats_env < <(nats_role_env edge)
  local -a admins=()
  for ((i = 1; i <= edges; i++)); do
    port="$(bench_free_port)" || return 1
    admin="$(bench_free_port)" || return 1
    admins+=("$admin")
    stack_start 2 "edge-$i" ROOMCAST_JWT_SECRET="$BENCH_JWT_SECRET" \
      ROOMCAST_ADMIN_TOKEN="$BENCH_ADMIN_TOKEN" "${nats_env[@]}" -- \
      "$BENCH_EDGE_BIN" --host 127.0.0.1 --port "$port" --admin-host 127.0.0.1 \
      --admin-port "$admin" --nats-url "nats://127.0.0.1:$nats_port" --edge-id "bench-edge-$i" \
      --auto-create-prefixes '*' --threads "$threads" --ping-interval 25s --ping-timeout 20s \
      --events-per-second 0 --user-publish-rate 0 --user-publish-bytes-rate 0 \
      --user-auto-create-per-minute 0 \
      --log-level warn "${BENCH_EDGE_ARGS[@]}" || return 1
    BENCH_URLS+="${BENCH_URLS:+,}http://127.0.0.1:$port"
    BENCH_SERVERS+=(--server "edge-$i:edge:${STACK_PID[edge-$i]}")
  done
  for ((i = 1; i <= edges; i++)); do
    stack_wait_ready "edge-$i" "/readyz" http_ok 127.0.0.1 "${admins[$((i - 1))]}" /readyz ||
      return 1
  done
  BENCH_CONN_PROCS="$edges"
}

# The Node.js baseline: $1 socket.io processes; with $2 = redis, a redis-server and the
# @socket.io/redis-adapter in every process (the multi-process variant).
bench_start_node() {
  local procs="$1" mode="${2:-}" i port redis_port=""
  local -a redis_args=() ports=()
  BENCH_URLS="" BENCH_SERVERS=()
  if [ "$mode" = redis ]; then
    redis_port="$(bench_free_port)" || return 1
    stack_start 0 redis -- redis-server --bind 127.0.0.1 --port "$redis_port" --save "" \
      --appendonly no --protected-mode no --daemonize no --loglevel warning || return 1
    stack_wait_ready redis "a listener on port $redis_port" tcp_open 127.0.0.1 "$redis_port" ||
      return 1
    BENCH_SERVERS+=(--server "redis:redis:${STACK_PID[redis]}")
    redis_args=(--redis "redis://127.0.0.1:$redis_port")
  fi
  for ((i = 1; i <= procs; i++)); do
    port="$(bench_free_port)" || return 1
    ports+=("$port")
    stack_start 2 "node-$i" ROOMCAST_JWT_SECRET="$BENCH_JWT_SECRET" -- \
      node "$ROOT/bench/baseline/server.mjs" --host 127.0.0.1 --port "$port" \
      --ping-interval 25s --ping-timeout 20s --id "node-$i" "${redis_args[@]}" || return 1
    BENCH_URLS+="${BENCH_URLS:+,}http://127.0.0.1:$port"
    BENCH_SERVERS+=(--server "node-$i:node:${STACK_PID[node-$i]}")
  done
  for ((i = 1; i <= procs; i++)); do
    stack_wait_ready "node-$i" "a listener on port ${ports[$((i - 1))]}" \
      tcp_open 127.0.0.1 "${ports[$((i - 1))]}" || return 1
  done
  BENCH_CONN_PROCS="$procs"
}

# The kernel's floor (bench/floor/floor.cpp): one process, one thread, one send() per delivery
# ($1 = off) or the frames due for a connection in one send() per event-loop pass ($1 = on).
bench_start_floor() {
  local batch="$1" port
  BENCH_URLS="" BENCH_SERVERS=()
  port="$(bench_free_port)" || return 1
  stack_start 2 floor -- "$BENCH_FLOOR_BIN" --host 127.0.0.1 --port "$port" --batch "$batch" ||
    return 1
  stack_wait_ready floor "a listener on port $port" tcp_open 127.0.0.1 "$port" || return 1
  BENCH_URLS="http://127.0.0.1:$port"
  BENCH_SERVERS+=(--server "floor:floor:${STACK_PID[floor]}")
  BENCH_CONN_PROCS=1
}

# bench_start_system SYSTEM: roomcast | node | node-redis | floor | floor-batched.
bench_start_system() {
  : >"$STACK_PIDS_FILE"
  STACK_PID=()
  case "$1" in
    roomcast) bench_start_roomcast "$BENCH_EDGES" "$BENCH_EDGE_THREADS" ;;
    node) bench_start_node 1 ;;
    node-redis) bench_start_node "$BENCH_NODE_PROCS" redis ;;
    floor) bench_start_floor off ;;
    floor-batched) bench_start_floor on ;;
    *) log "unknown system: $1"; return 1 ;;
  esac
}

bench_stop_system() {
  ROOMCAST_STOP_TIMEOUT="${ROOMCAST_STOP_TIMEOUT:-10}" stack_stop
  rm -rf "$STACK_STATE_DIR/nats"
}

# --- one measured run --------------------------------------------------------------------------

# bench_measure SYSTEM SCENARIO LABEL MODE WARMUP DURATION READY TIMEOUT [--param k=v ...] -- ARGS
# Runs the load generator with ARGS (plus the common arguments) against the running system and
# appends a record to $BENCH_RECORDS. Several generators: separate their ARGS with ":::" (each
# gets the common arguments); "@late" first in a group starts it once the others are connected.
bench_measure() {
  local system="$1" scenario="$2" label="$3" mode="$4" warmup="$5" duration="$6" ready="$7"
  local timeout="$8"
  shift 8
  local -a params=() cmd=() group=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do params+=("$1"); shift; done
  shift
  local common=(--json --transport websocket --jwt-secret "$BENCH_JWT_SECRET" --event bench)
  flush_group() {
    [ "${#group[@]}" -gt 0 ] || return 0
    local late=()
    if [ "${group[0]}" = @late ]; then late=(@late); group=("${group[@]:1}"); fi
    [ "${#cmd[@]}" -eq 0 ] || cmd+=(":::")
    cmd+=("${late[@]}" "$BENCH_LOADGEN" "${group[@]}" "${common[@]}")
    group=()
  }
  while [ "$#" -gt 0 ]; do
    if [ "$1" = ::: ]; then flush_group; else group+=("$1"); fi
    shift
  done
  flush_group
  log "  $system $scenario $label"
  node "$ROOT/scripts/lib/bench_measure.mjs" --record "$BENCH_RECORDS" --system "$system" \
    --scenario "$scenario" --label "$label" "${params[@]}" "${BENCH_SERVERS[@]}" --mode "$mode" \
    --warmup "$warmup" --duration "$duration" --ready-connections "$ready" --timeout "$timeout" \
    -- "${cmd[@]}"
}
