#!/usr/bin/env bash
# A whole Truc cluster on this one machine, for trying what a real three-machine province
# runs (docs/operating.md, "Many machines"): three Kafka brokers (KRaft, replication 3,
# min.insync.replicas 2), three Cassandra nodes (replication 3, QUORUM in one named data
# centre), two API nodes and two Faust workers, behind HAProxy. Each "machine" is a loopback
# address ($NET.1, $NET.2, $NET.3) with the usual ports, so the layout is the production one.
# Engines come from the same jars and engines.sh as the one-node setup.
#
# usage: cluster.sh up | down [--wipe] | status
#        cluster.sh engines-up | engines-down [--wipe]    the six engines alone (fault suite)
#        cluster.sh kill  kafka|cassandra|api|worker N   kill -9 one process (N = 1..3)
#        cluster.sh start kafka|cassandra|api|worker N   start it again
#        cluster.sh env                                  the settings a client/CLI needs
#        cluster.sh haproxy-config PORT NAME=HOST:PORT... HAProxy's configuration over those
#                                                        API nodes (the fault suite uses it)
#
# Environment (defaults in brackets):
#   TRUC_CLUSTER_HOME [<repo>/.cluster]  node1..3/ (engines), apps/ (logs, pids), haproxy.cfg
#   TRUC_CLUSTER_NET [127.0.10]          the three machines are $NET.1, $NET.2, $NET.3
#   TRUC_CLUSTER_PORT [8090]             HAProxy, on 127.0.0.1: where clients connect
#   TRUC_CLUSTER_API_PORT [8080]         each API node's port on its own address
#   TRUC_CLUSTER_KAFKA_HEAP [384m]  TRUC_CLUSTER_CASSANDRA_HEAP [1g]   per node
#   TRUC_CLUSTER_PHI_CONVICT_THRESHOLD [5]  how soon Cassandra nodes convict a silent one
#                                        (5 is Cassandra's lowest; its default is 8)
#   TRUC_PYTHON [<repo>/.venv/bin/python] the venv whose `truc` runs the API nodes and workers
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
HOME_DIR=${TRUC_CLUSTER_HOME:-$REPO_DIR/.cluster}
NET=${TRUC_CLUSTER_NET:-127.0.10}
LB_PORT=${TRUC_CLUSTER_PORT:-8090}
API_PORT=${TRUC_CLUSTER_API_PORT:-8080}
PYTHON=${TRUC_PYTHON:-$REPO_DIR/.venv/bin/python}
TRUC=$(dirname "$PYTHON")/truc
ENGINES=$SCRIPT_DIR/engines.sh
export TRUC_ENGINES_JARS=${TRUC_ENGINES_JARS:-$REPO_DIR/.engines/jars}  # one copy for all nodes
NODES=(1 2 3)
APP_NODES=(1 2)
DATACENTER=datacenter1  # what SimpleSnitch calls the one data centre
# Murmur3 tokens spread evenly over three nodes (num_tokens 1, as in the one-node setup)
TOKENS=(-9223372036854775808 -3074457345618258603 3074457345618258602)

mkdir -p "$HOME_DIR/apps"
HOME_DIR=$(cd "$HOME_DIR" && pwd)
APPS=$HOME_DIR/apps

say() { printf '[cluster] %s\n' "$*"; }
die() { printf '[cluster] error: %s\n' "$*" >&2; exit 1; }

join() { local IFS=,; echo "$*"; }
kafka_servers() { local n out=(); for n in "${NODES[@]}"; do out+=("$NET.$n:9092"); done; join "${out[@]}"; }
contact_points() { local n out=(); for n in "${NODES[@]}"; do out+=("$NET.$n"); done; echo "$(join "${out[@]}"):9042"; }
voters() { local n out=(); for n in "${NODES[@]}"; do out+=("$n@$NET.$n:9093"); done; join "${out[@]}"; }

engine_env() {  # the engines.sh environment of node $1
  local n=$1
  echo "TRUC_ENGINES_HOME=$HOME_DIR/node$n" \
    "TRUC_ENGINES_HOST=$NET.$n" "TRUC_KAFKA_PORT=9092" "TRUC_KAFKA_CONTROLLER_PORT=9093" \
    "TRUC_CASSANDRA_PORT=9042" "TRUC_CASSANDRA_STORAGE_PORT=7000" \
    "TRUC_KAFKA_NODE_ID=$n" "TRUC_KAFKA_VOTERS=$(voters)" \
    "TRUC_KAFKA_CLUSTER_ID=$(kafka_cluster_id)" \
    "TRUC_KAFKA_REPLICATION=3" "TRUC_KAFKA_MIN_ISR=2" \
    "TRUC_KAFKA_HEAP=${TRUC_CLUSTER_KAFKA_HEAP:-384m}" \
    "TRUC_CASSANDRA_HEAP=${TRUC_CLUSTER_CASSANDRA_HEAP:-1g}" \
    "TRUC_CASSANDRA_CLUSTER_NAME=truc-cluster" "TRUC_CASSANDRA_SEEDS=$NET.1:7000,$NET.2:7000,$NET.3:7000" \
    "TRUC_CASSANDRA_INITIAL_TOKEN=${TOKENS[$((n - 1))]}" "TRUC_CASSANDRA_HINTS=true" \
    "TRUC_CASSANDRA_DYNAMIC_SNITCH=true" "TRUC_CASSANDRA_BATCHLOG_ENDPOINT_STRATEGY=dynamic_remote" \
    "TRUC_CASSANDRA_PHI_CONVICT_THRESHOLD=${TRUC_CLUSTER_PHI_CONVICT_THRESHOLD:-5}" \
    "TRUC_PYTHON=$PYTHON"
}

engine() {  # engine N ARGS... : engines.sh for node N
  local n=$1
  shift
  # shellcheck disable=SC2046  # one word per variable
  env $(engine_env "$n") "$ENGINES" "$@"
}

kafka_cluster_id() {  # one id for the three brokers, made once
  local f=$HOME_DIR/kafka.cluster.id
  if [[ ! -s $f ]]; then
    "$ENGINES" kafka-tool kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1 >"$f.tmp"
    [[ -s $f.tmp ]] || die "could not make a Kafka cluster id"
    mv "$f.tmp" "$f"
  fi
  cat "$f"
}

hub_env() {  # the settings every API node and worker shares
  echo "TRUC_KAFKA=$(kafka_servers)" "TRUC_CASSANDRA=$(contact_points)" \
    "TRUC_CASSANDRA_DATACENTER=$DATACENTER" "TRUC_REPLICATION=3" \
    "TRUC_MASTER_KEY_FILE=$HOME_DIR/master.key"
}

master_key() {
  [[ -s $HOME_DIR/master.key ]] && return 0
  (umask 077 && "$PYTHON" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())' \
    >"$HOME_DIR/master.key")
}

pid_of() {  # prints the live pid of app process $1 (api1, worker2, haproxy)
  local f=$APPS/$1.pid pid
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

launch_app() {  # launch_app NAME CMD... : in its own session, pid file, log
  local name=$1
  shift
  pid_of "$name" >/dev/null && { say "$name already running"; return 0; }
  (
    # shellcheck disable=SC2016  # $$ is the inner shell, which becomes the process
    exec setsid bash -c 'echo $$ >"$0"; exec "$@"' "$APPS/$name.pid" "$@"
  ) </dev/null >>"$APPS/$name.log" 2>&1 &
  local i
  for i in $(seq 1 50); do [[ -s $APPS/$name.pid ]] && break; sleep 0.1; done
  say "$name: started pid $(cat "$APPS/$name.pid")"
}

start_api() {
  local n=$1
  # shellcheck disable=SC2046
  launch_app "api$n" env $(hub_env) "TRUC_NODE_ID=api$n" "TRUC_ACCESS_LOG=false" \
    "TRUC_DATA_DIR=$APPS/api$n-data" "$TRUC" serve --host "$NET.$n" --port "$API_PORT"
}

start_worker() {
  local n=$1
  # shellcheck disable=SC2046
  launch_app "worker$n" env $(hub_env) "TRUC_WORKER_WEB_PORT=$((6165 + n))" "TRUC_WORKER_INSTANCE=worker$n" \
    "TRUC_DATA_DIR=$APPS/worker$n-data" "$TRUC" worker
}

wait_http() {  # wait_http URL SECONDS
  local url=$1 deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

haproxy_config() {  # haproxy_config PORT NAME=HOST:PORT... : HAProxy over those API nodes
  local port=$1 server
  shift
  cat <<EOF
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout tunnel 1h
    retries 2
    option redispatch
frontend truc
    bind 127.0.0.1:$port
    default_backend api
backend api
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
EOF
  for server in "$@"; do
    echo "    server ${server%%=*} ${server#*=} check inter 1s fall 2 rise 1"
  done
}

haproxy_cfg() {
  local n servers=()
  for n in "${APP_NODES[@]}"; do servers+=("api$n=$NET.$n:$API_PORT"); done
  haproxy_config "$LB_PORT" "${servers[@]}"
}

start_haproxy() {
  command -v haproxy >/dev/null || die "haproxy not found: apt-get install haproxy (Debian)"
  haproxy_cfg >"$HOME_DIR/haproxy.cfg"
  haproxy -c -q -f "$HOME_DIR/haproxy.cfg" || die "haproxy refused $HOME_DIR/haproxy.cfg"
  launch_app haproxy haproxy -db -f "$HOME_DIR/haproxy.cfg"
}

cmd_engines_up() {
  local n pids=() rc=0
  "$ENGINES" fetch all >/dev/null
  kafka_cluster_id >/dev/null
  # Brokers wait for a quorum of controllers: the three start together.
  for n in "${NODES[@]}"; do engine "$n" up kafka & pids+=($!); done
  # Cassandra: every node is a seed of a new, empty cluster, so none streams on start;
  # the first one goes alone so the others find a ring to join.
  engine 1 up cassandra || rc=1
  for n in "${NODES[@]:1}"; do engine "$n" up cassandra & pids+=($!); done
  for n in "${pids[@]}"; do wait "$n" || rc=1; done
  ((rc == 0)) || die "an engine did not start (logs under $HOME_DIR/node*/run/*/logs)"
}

cmd_up() {
  local n
  [[ -x $TRUC ]] || die "no truc at $TRUC (make install first)"
  master_key
  cmd_engines_up
  # shellcheck disable=SC2046
  env $(hub_env) "$TRUC" migrate --replication 3 --datacenter "$DATACENTER"
  for n in "${APP_NODES[@]}"; do start_api "$n"; start_worker "$n"; done
  for n in "${APP_NODES[@]}"; do
    wait_http "http://$NET.$n:$API_PORT/healthz" 120 || die "api$n did not answer (log: $APPS/api$n.log)"
  done
  start_haproxy
  wait_http "http://127.0.0.1:$LB_PORT/healthz" 30 || die "haproxy did not answer"
  say "up: clients use http://127.0.0.1:$LB_PORT ('cluster.sh env' prints the settings)"
}

stop_app() {
  local name=$1 pid i
  pid=$(pid_of "$name") || { rm -f "$APPS/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$APPS/$name.pid"
  say "$name stopped"
}

cmd_down() {
  local n
  stop_app haproxy
  for n in "${APP_NODES[@]}"; do stop_app "api$n"; stop_app "worker$n"; done
  cmd_engines_down "$@"
}

cmd_engines_down() {
  local n wipe=no pids=()
  [[ ${1:-} == --wipe ]] && wipe=yes
  for n in "${NODES[@]}"; do engine "$n" down all & pids+=($!); done
  for n in "${pids[@]}"; do wait "$n" || true; done
  if [[ $wipe == yes ]]; then
    rm -rf "${HOME_DIR:?}"
    say "wiped $HOME_DIR"
  fi
}

cmd_status() {
  local n rc=0 name
  for n in "${NODES[@]}"; do engine "$n" status all || rc=1; done
  for name in haproxy api1 api2 worker1 worker2; do
    if pid=$(pid_of "$name"); then say "$name: running, pid $pid"; else say "$name: stopped"; rc=1; fi
  done
  return "$rc"
}

cmd_kill() {  # kill -9, as a machine that loses power
  local what=$1 n=$2 pid
  case $what in
    kafka | cassandra) pid=$(cat "$HOME_DIR/node$n/run/$what/$what.pid") ;;
    api | worker) pid=$(pid_of "$what$n") || die "$what$n is not running" ;;
    *) die "kill kafka|cassandra|api|worker N" ;;
  esac
  kill -KILL "$pid"
  gone "$pid" 60 || die "$what$n (pid $pid) still alive 60 s after SIGKILL"
  say "$what$n (pid $pid) killed"
}

gone() {  # gone PID SECONDS: the process has exited (a zombie counts: its sockets are closed)
  local pid=$1 deadline=$((SECONDS + $2)) state
  while kill -0 "$pid" 2>/dev/null; do
    state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 0
    [[ $state == Z ]] && return 0
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

cmd_start() {
  local what=$1 n=$2
  case $what in
    kafka | cassandra) engine "$n" up "$what" ;;
    api) start_api "$n"; wait_http "http://$NET.$n:$API_PORT/healthz" 120 ;;
    worker) start_worker "$n" ;;
    *) die "start kafka|cassandra|api|worker N" ;;
  esac
}

cmd_env() {
  hub_env | tr ' ' '\n'
  echo "TRUC_URL=http://127.0.0.1:$LB_PORT"
}

case ${1:-help} in
  up) cmd_up ;;
  down) shift; cmd_down "$@" ;;
  engines-up) cmd_engines_up ;;
  engines-down) shift; cmd_engines_down "$@" ;;
  status) cmd_status ;;
  kill) (($# == 3)) || die "usage: cluster.sh kill kafka|cassandra|api|worker N"; cmd_kill "$2" "$3" ;;
  start) (($# == 3)) || die "usage: cluster.sh start kafka|cassandra|api|worker N"; cmd_start "$2" "$3" ;;
  env) cmd_env ;;
  haproxy-config) shift; (($# >= 2)) || die "usage: cluster.sh haproxy-config PORT NAME=HOST:PORT..."; haproxy_config "$@" ;;
  *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; [[ ${1:-help} == help ]] ;;
esac
