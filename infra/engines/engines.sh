#!/usr/bin/env bash
# Runs the real engines Truc needs in development and CI -- Apache Kafka (one KRaft node,
# broker + controller) and Apache Cassandra (one node) -- as plain JVM processes started from
# the Maven Central jars. No Docker, no root, loopback only. Not for production (docs/engines.md).
#
# usage: engines.sh fetch [kafka|cassandra|all]     copy the jars (skipped when already complete)
#        engines.sh up    [kafka|cassandra|all]     start (idempotent) and wait until ready
#        engines.sh wait  [kafka|cassandra|all]     wait until running engines are ready
#        engines.sh status [kafka|cassandra|all]    exit 0 only when all given engines are ready
#        engines.sh down  [--wipe] [kafka|cassandra|all]   SIGTERM, wait, SIGKILL (idempotent)
#        engines.sh wipe  [kafka|cassandra|all]     down, then delete data and logs
#        engines.sh kafka-tool MAIN_CLASS [ARGS...] run a Kafka CLI class on the Kafka classpath
#
# Environment (defaults in brackets):
#   TRUC_ENGINES_HOME [<repo>/.engines]   jars/, run/<engine>/{conf,data,logs}, cds/
#   TRUC_KAFKA_PORT [9092]  TRUC_KAFKA_CONTROLLER_PORT [9093]
#   TRUC_CASSANDRA_PORT [9042]  TRUC_CASSANDRA_STORAGE_PORT [7000]
#   TRUC_ENGINES_JARS [$TRUC_ENGINES_HOME/jars]  where the jars are (a cluster's nodes share them)
#   TRUC_ENGINES_HOST [127.0.0.1]   the loopback address both engines listen on
#   TRUC_KAFKA_NODE_ID [1]  TRUC_KAFKA_VOTERS [1@HOST:CONTROLLER_PORT]  KRaft node and quorum
#   TRUC_KAFKA_CLUSTER_ID [random]  the same on every node of a cluster
#   TRUC_KAFKA_REPLICATION [1]  TRUC_KAFKA_MIN_ISR [1]   internal and default topic replication
#   TRUC_CASSANDRA_SEEDS [HOST:STORAGE_PORT]  TRUC_CASSANDRA_INITIAL_TOKEN [0]
#   TRUC_CASSANDRA_CLUSTER_NAME [truc-dev]  TRUC_CASSANDRA_HINTS [false]
#   TRUC_CASSANDRA_DYNAMIC_SNITCH [false]  TRUC_CASSANDRA_BATCHLOG_ENDPOINT_STRATEGY
#                           [random_remote]  TRUC_CASSANDRA_PHI_CONVICT_THRESHOLD [8]
#                           (infra/engines/cluster.sh sets these for its three nodes)
#   TRUC_ENGINES_TIMEOUT [180]  seconds `up`/`wait` give each engine to become ready
#   TRUC_ENGINES_STOP_TIMEOUT [60]  seconds `down` waits after SIGTERM before SIGKILL
#   TRUC_KAFKA_HEAP [512m]  TRUC_CASSANDRA_HEAP [2g]  (Cassandra: -Xms = -Xmx)
#   TRUC_KAFKA_JVM_OPTS, TRUC_CASSANDRA_JVM_OPTS   extra JVM flags, appended last
#   TRUC_ENGINES_CDS [1]    class-data-sharing archives (faster starts); 0 disables them
#   TRUC_CASSANDRA_MLOCK [0]  1 lets Cassandra mlockall() its memory (its production default)
#   TRUC_JAVA               java binary to use (needs 17; else JAVA_HOME, PATH, /usr/lib/jvm)
#   TRUC_MVN [mvn]          Maven binary used by `fetch`
#   TRUC_PYTHON [<repo>/.venv/bin/python]  used for the CQL readiness probe when it has
#                           cassandra-driver; without it readiness is port + log line only
set -euo pipefail
export LC_NUMERIC=C  # EPOCHREALTIME and printf '%f' with a '.' decimal separator

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
ENGINES_HOME=${TRUC_ENGINES_HOME:-$REPO_DIR/.engines}
mkdir -p "$ENGINES_HOME"
ENGINES_HOME=$(cd "$ENGINES_HOME" && pwd)
JARS_DIR=${TRUC_ENGINES_JARS:-$ENGINES_HOME/jars}
RUN_DIR=$ENGINES_HOME/run
CDS_DIR=$ENGINES_HOME/cds

HOST=${TRUC_ENGINES_HOST:-127.0.0.1}
KAFKA_PORT=${TRUC_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${TRUC_KAFKA_CONTROLLER_PORT:-9093}
CASSANDRA_PORT=${TRUC_CASSANDRA_PORT:-9042}
CASSANDRA_STORAGE_PORT=${TRUC_CASSANDRA_STORAGE_PORT:-7000}
TIMEOUT=${TRUC_ENGINES_TIMEOUT:-180}
STOP_TIMEOUT=${TRUC_ENGINES_STOP_TIMEOUT:-60}
KAFKA_HEAP=${TRUC_KAFKA_HEAP:-512m}
CASSANDRA_HEAP=${TRUC_CASSANDRA_HEAP:-2g}
USE_CDS=${TRUC_ENGINES_CDS:-1}
MVN=${TRUC_MVN:-mvn}
PYTHON=${TRUC_PYTHON:-$REPO_DIR/.venv/bin/python}
LOG_TAIL_LINES=40

say() { printf '[engines] %s\n' "$*"; }
warn() { printf '[engines] %s\n' "$*" >&2; }
die() { warn "error: $*"; exit 1; }

now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- per-engine facts ------------------------------------------------------------------------

engine_ports() {
  case $1 in
    kafka) echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT" ;;
    cassandra) echo "$CASSANDRA_PORT $CASSANDRA_STORAGE_PORT" ;;
  esac
}
client_port() { case $1 in kafka) echo "$KAFKA_PORT" ;; cassandra) echo "$CASSANDRA_PORT" ;; esac; }
engine_log() {
  case $1 in
    kafka) echo "$RUN_DIR/kafka/logs/server.log" ;;
    cassandra) echo "$RUN_DIR/cassandra/logs/system.log" ;;
  esac
}
ready_marker() {
  case $1 in
    kafka) echo "Kafka Server started" ;;
    cassandra) echo "Starting listening for CQL clients" ;;
  esac
}
pid_file() { echo "$RUN_DIR/$1/$1.pid"; }

parse_engines() {  # words -> ENGINES array (default: all)
  ENGINES=()
  local a
  for a in "$@"; do
    case $a in
      kafka | cassandra) [[ " ${ENGINES[*]-} " == *" $a "* ]] || ENGINES+=("$a") ;;
      all) ENGINES=(kafka cassandra) ;;
      *) die "unknown engine '$a' (kafka, cassandra or all)" ;;
    esac
  done
  ((${#ENGINES[@]})) || ENGINES=(kafka cassandra)
}

# --- jars ------------------------------------------------------------------------------------

pom_property() {
  sed -n "s:.*<$1>\(.*\)</$1>.*:\1:p" "$SCRIPT_DIR/pom.xml" | head -n 1
}

wanted_stamp() {
  case $1 in
    kafka) echo "kafka=$(pom_property kafka.version) log4j=$(pom_property log4j.version)" ;;
    cassandra) echo "cassandra=$(pom_property cassandra.version)" ;;
  esac
}

fetch_engine() {
  local engine=$1 dir=$JARS_DIR/$1 want
  want=$(wanted_stamp "$engine")
  if [[ -f $dir/.fetched && "$(<"$dir/.fetched")" == "$want" ]]; then
    return 0
  fi
  command -v "$MVN" >/dev/null || die "'$MVN' not found: Maven is needed to fetch the $engine jars"
  say "fetching $engine jars ($want) from Maven into $dir"
  local start tmp=$JARS_DIR/.$engine.partial.$$
  start=$(now)
  rm -rf "$tmp"
  mkdir -p "$JARS_DIR"
  local mvn_log=$JARS_DIR/.fetch-$engine.log
  if ! "$MVN" -B -Dstyle.color=never -f "$SCRIPT_DIR/pom.xml" -P "$engine" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" -DincludeScope=runtime >"$mvn_log" 2>&1; then
    tail -n "$LOG_TAIL_LINES" "$mvn_log" >&2
    rm -rf "$tmp"
    die "Maven could not fetch the $engine jars (full output: $mvn_log)"
  fi
  compgen -G "$tmp/*.jar" >/dev/null || die "Maven copied no jars for $engine"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  printf '%s\n' "$want" >"$dir/.fetched"
  say "fetched $engine jars in $(since "$start") s ($(find "$dir" -name '*.jar' | wc -l) jars)"
}

# --- java ------------------------------------------------------------------------------------

java_major() {
  "$1" -XshowSettings:properties -version 2>&1 |
    awk -F'= ' '/java.specification.version/ { sub(/^1\./, "", $2); print $2; exit }'
}

JAVA=
JAVA_MAJOR=
find_java() {  # sets JAVA to a Java 17 (Cassandra 5.0 supports 11 and 17 only; Kafka 4 needs 17+)
  [[ -n $JAVA ]] && return 0
  local c m candidates=()
  [[ -n ${TRUC_JAVA:-} ]] && candidates+=("$TRUC_JAVA")
  [[ -n ${JAVA_HOME:-} ]] && candidates+=("$JAVA_HOME/bin/java")
  command -v java >/dev/null && candidates+=("$(command -v java)")
  for c in /usr/lib/jvm/*-17-*/bin/java /usr/lib/jvm/*17*/bin/java; do [[ -x $c ]] && candidates+=("$c"); done
  for c in "${candidates[@]}"; do
    [[ -x $c ]] || continue
    m=$(java_major "$c" || true)
    if [[ $m == 17 ]]; then JAVA=$c; JAVA_MAJOR=$m; return 0; fi
  done
  die "no Java 17 found (tried: ${candidates[*]:-none}); set TRUC_JAVA. Cassandra 5.0 cannot run on 24+"
}

# --- processes and readiness -----------------------------------------------------------------

engine_pid() {  # prints the pid when the pid file points at a live process of this engine
  local f pid
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  local args
  if [[ -r /proc/$pid/cmdline ]]; then
    args=$(tr '\0' '\n' <"/proc/$pid/cmdline")
  else
    args=$(ps -ww -p "$pid" -o args= 2>/dev/null | tr ' ' '\n') || return 1
  fi
  grep -q -x -F -- "-Dtruc.engine=$1" <<<"$args" || return 1
  echo "$pid"
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

rss_mib() { ps -o rss= -p "$1" 2>/dev/null | awk '{ printf "%d", $1 / 1024 }'; }

marker_seen() {  # the ready line appeared in the log after this start's offset
  local log off size
  log=$(engine_log "$1")
  [[ -f $log ]] || return 1
  off=$(cat "$RUN_DIR/$1/log.offset" 2>/dev/null || echo 0)
  size=$(wc -c <"$log")
  ((size >= off)) || off=0
  # grep -q stops reading at the first match; mask tail's SIGPIPE from pipefail.
  { tail -c +"$((off + 1))" "$log" || true; } | grep -q -F "$(ready_marker "$1")"
}

CQL_PROBE='import sys
from cassandra.cluster import Cluster
cluster = Cluster([sys.argv[1]], port=int(sys.argv[2]), connect_timeout=5,
                  control_connection_timeout=5)
try:
    row = cluster.connect().execute("SELECT release_version FROM system.local").one()
    print(row[0])
finally:
    cluster.shutdown()'

have_cql_driver() {
  [[ -x $PYTHON ]] && "$PYTHON" -c 'import cassandra.cluster' 2>/dev/null
}

is_ready() {
  local engine=$1
  port_open "$(client_port "$engine")" || return 1
  marker_seen "$engine" || return 1
  if [[ $engine == cassandra && ${CQL_PROBE_OK:-} == yes ]]; then
    "$PYTHON" -c "$CQL_PROBE" "$HOST" "$CASSANDRA_PORT" >"$RUN_DIR/cassandra/probe.out" 2>&1 ||
      return 1
  fi
  return 0
}

show_failure() {
  local engine=$1 reason=$2 log
  log=$(engine_log "$engine")
  warn "$engine: $reason"
  if [[ -s $log ]]; then
    warn "---- last $LOG_TAIL_LINES lines of $log ----"
    tail -n "$LOG_TAIL_LINES" "$log" >&2
  fi
  if [[ -s $RUN_DIR/$engine/logs/stdout.log ]]; then
    warn "---- last $LOG_TAIL_LINES lines of $RUN_DIR/$engine/logs/stdout.log ----"
    tail -n "$LOG_TAIL_LINES" "$RUN_DIR/$engine/logs/stdout.log" >&2
  fi
  warn "----"
}

wait_ready() {  # polls every given engine until ready; returns 1 when one fails or times out
  local engine pid started waiting=("$@") left failed=0
  CQL_PROBE_OK=no
  if [[ " $* " == *" cassandra "* ]]; then
    if have_cql_driver; then CQL_PROBE_OK=yes; else say "no cassandra-driver at $PYTHON: CQL probe skipped"; fi
  fi
  local deadline
  deadline=$(awk -v n="$(now)" -v t="$TIMEOUT" 'BEGIN { printf "%d", n + t }')
  while ((${#waiting[@]})); do
    left=()
    for engine in "${waiting[@]}"; do
      started=$(cat "$RUN_DIR/$engine/start.time" 2>/dev/null || now)
      if ! pid=$(engine_pid "$engine"); then
        show_failure "$engine" "the process exited during start-up"
        failed=1
      elif is_ready "$engine"; then
        local extra=
        [[ $engine == cassandra && $CQL_PROBE_OK == yes ]] &&
          extra=", CQL answers: release_version $(<"$RUN_DIR/cassandra/probe.out")"
        say "$engine ready in $(since "$started") s (pid $pid, port $(client_port "$engine"), RSS $(rss_mib "$pid") MiB$extra)"
      elif (($(printf '%.0f' "$(now)") >= deadline)); then
        show_failure "$engine" "not ready after ${TIMEOUT} s (still running as pid $pid; 'engines.sh down $engine' stops it)"
        failed=1
      else
        left+=("$engine")
      fi
    done
    waiting=("${left[@]+"${left[@]}"}")
    ((${#waiting[@]})) && sleep 0.5
  done
  return "$failed"
}

# --- rendering and launching -----------------------------------------------------------------

render() {  # render SRC DST KEY=VALUE... : replaces @KEY@ markers
  local src=$1 dst=$2 kv text
  shift 2
  text=$(<"$src")
  for kv in "$@"; do text=${text//"@${kv%%=*}@"/"${kv#*=}"}; done
  if grep -q -E '@[A-Z_]+@' <<<"$text"; then die "unreplaced marker in $src: $(grep -o -E '@[A-Z_]+@' <<<"$text" | head -n 1)"; fi
  printf '%s\n' "$text" >"$dst"
}

read_options() {  # appends the flags of an options file to OPTS
  local line
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%%#*}
    read -r line <<<"$line" || true
    [[ -n $line ]] && OPTS+=("$line")
  done <"$1"
}

cds_options() {  # class-data-sharing archive: written at the first clean stop, used afterwards
  local engine=$1 key archive
  rm -f "$RUN_DIR/$engine/cds.pending"
  [[ $USE_CDS == 1 ]] || return 0
  mkdir -p "$CDS_DIR"
  key=$({ "$JAVA" -version 2>&1; ls -l "$JARS_DIR/$engine"; cat "$SCRIPT_DIR/$engine/jvm.options"; } | cksum | cut -d' ' -f1)
  archive=$CDS_DIR/$engine-$key.jsa
  # Cassandra runs the jamm agent; archiving next to an agent is a diagnostic switch.
  [[ $engine == cassandra ]] && OPTS+=(-XX:+UnlockDiagnosticVMOptions -XX:+AllowArchivingWithJavaAgent)
  if [[ -s $archive ]]; then
    OPTS+=("-XX:SharedArchiveFile=$archive")
  else
    rm -f "$CDS_DIR/$engine"-*.jsa "$CDS_DIR/$engine"-*.jsa.partial
    OPTS+=("-XX:ArchiveClassesAtExit=$archive.partial" -Xlog:cds=off -Xlog:cds+dynamic=off)
    printf '%s\n' "$archive" >"$RUN_DIR/$engine/cds.pending"
  fi
}

finish_cds() {  # after a stop: keep the archive only when the JVM exited on its own terms
  local engine=$1 clean=$2 pending archive
  pending=$RUN_DIR/$engine/cds.pending
  [[ -f $pending ]] || return 0
  archive=$(<"$pending")
  if [[ $clean == yes && -s $archive.partial ]]; then
    mv "$archive.partial" "$archive"
  else
    rm -f "$archive.partial"
  fi
  rm -f "$pending"
}

kafka_options() {
  local run=$RUN_DIR/kafka jars=$JARS_DIR/kafka
  render "$SCRIPT_DIR/kafka/server.properties" "$run/conf/server.properties" \
    HOST="$HOST" KAFKA_PORT="$KAFKA_PORT" KAFKA_CONTROLLER_PORT="$KAFKA_CONTROLLER_PORT" \
    KAFKA_DATA_DIR="$run/data" KAFKA_NODE_ID="${TRUC_KAFKA_NODE_ID:-1}" \
    KAFKA_VOTERS="${TRUC_KAFKA_VOTERS:-1@$HOST:$KAFKA_CONTROLLER_PORT}" \
    KAFKA_REPLICATION="${TRUC_KAFKA_REPLICATION:-1}" KAFKA_MIN_ISR="${TRUC_KAFKA_MIN_ISR:-1}"
  cp "$SCRIPT_DIR/kafka/log4j2.properties" "$run/conf/log4j2.properties"
  if [[ ! -f $run/data/meta.properties ]]; then
    local id
    [[ -n ${TRUC_KAFKA_CLUSTER_ID:-} ]] && printf '%s\n' "$TRUC_KAFKA_CLUSTER_ID" >"$run/cluster.id"
    [[ -s $run/cluster.id ]] ||
      "$JAVA" -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/tools-log4j2.properties" -cp "$jars/*" \
        kafka.tools.StorageTool random-uuid >"$run/cluster.id" 2>>"$run/logs/format.log"
    id=$(<"$run/cluster.id")
    local t0
    t0=$(now)
    "$JAVA" -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/tools-log4j2.properties" -cp "$jars/*" \
      kafka.tools.StorageTool format -t "$id" -c "$run/conf/server.properties" --ignore-formatted \
      >>"$run/logs/format.log" 2>&1 || { cat "$run/logs/format.log" >&2; die "kafka storage format failed"; }
    say "kafka: formatted KRaft storage in $run/data in $(since "$t0") s (cluster id $id)"
  fi
  OPTS=()
  read_options "$SCRIPT_DIR/kafka/jvm.options"
  OPTS+=(-Xms128m "-Xmx$KAFKA_HEAP" -Dtruc.engine=kafka "-Dkafka.logs.dir=$run/logs"
    "-Dlog4j2.configurationFile=$run/conf/log4j2.properties")
  cds_options kafka
  local extra=()
  read -r -a extra <<<"${TRUC_KAFKA_JVM_OPTS:-}" || true
  OPTS+=("${extra[@]+"${extra[@]}"}" -cp "$jars/*" kafka.Kafka "$run/conf/server.properties")
}

cassandra_options() {
  local run=$RUN_DIR/cassandra jars=$JARS_DIR/cassandra jamm
  render "$SCRIPT_DIR/cassandra/cassandra.yaml" "$run/conf/cassandra.yaml" \
    HOST="$HOST" CASSANDRA_PORT="$CASSANDRA_PORT" CASSANDRA_STORAGE_PORT="$CASSANDRA_STORAGE_PORT" \
    CASSANDRA_DATA_DIR="$run/data" CASSANDRA_CLUSTER_NAME="${TRUC_CASSANDRA_CLUSTER_NAME:-truc-dev}" \
    CASSANDRA_SEEDS="${TRUC_CASSANDRA_SEEDS:-$HOST:$CASSANDRA_STORAGE_PORT}" \
    CASSANDRA_INITIAL_TOKEN="${TRUC_CASSANDRA_INITIAL_TOKEN:-0}" \
    CASSANDRA_HINTS="${TRUC_CASSANDRA_HINTS:-false}" \
    CASSANDRA_DYNAMIC_SNITCH="${TRUC_CASSANDRA_DYNAMIC_SNITCH:-false}" \
    CASSANDRA_BATCHLOG_ENDPOINT_STRATEGY="${TRUC_CASSANDRA_BATCHLOG_ENDPOINT_STRATEGY:-random_remote}" \
    CASSANDRA_PHI_CONVICT_THRESHOLD="${TRUC_CASSANDRA_PHI_CONVICT_THRESHOLD:-8}"
  cp "$SCRIPT_DIR/cassandra/logback.xml" "$run/conf/logback.xml"
  mkdir -p "$run/conf/triggers"
  jamm=$(compgen -G "$jars/jamm-*.jar" | head -n 1) || die "no jamm jar in $jars"
  OPTS=()
  read_options "$SCRIPT_DIR/cassandra/jvm.options"
  OPTS+=("-Xms$CASSANDRA_HEAP" "-Xmx$CASSANDRA_HEAP" "-javaagent:$jamm" -Dtruc.engine=cassandra
    "-Dcassandra.config=file://$run/conf/cassandra.yaml" "-Dcassandra.storagedir=$run/data"
    "-Dcassandra.logdir=$run/logs" "-Dlogback.configurationFile=$run/conf/logback.xml"
    "-Dcassandra.triggers_dir=$run/conf/triggers"
    "-XX:ErrorFile=$run/logs/hs_err_%p.log")
  cds_options cassandra
  local extra=()
  read -r -a extra <<<"${TRUC_CASSANDRA_JVM_OPTS:-}" || true
  OPTS+=("${extra[@]+"${extra[@]}"}" -cp "$jars/*" org.apache.cassandra.service.CassandraDaemon)
}

launch() {
  local engine=$1 run=$RUN_DIR/$1 port log
  for port in $(engine_ports "$engine"); do
    port_open "$port" && die "$engine: port $HOST:$port is already in use by another process"
  done
  mkdir -p "$run/conf" "$run/data" "$run/logs"
  "${engine}_options"
  local wrapper=()
  if [[ $engine == cassandra && ${TRUC_CASSANDRA_MLOCK:-0} != 1 ]]; then
    # Cassandra mlockall()s its whole address space when it may (root has CAP_IPC_LOCK), which
    # makes the full heap resident at once. On a shared dev box let it fail (it only warns).
    if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
      wrapper=(setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock)
    fi
  fi
  log=$(engine_log "$engine")
  if [[ -f $log ]]; then wc -c <"$log" | tr -d ' ' >"$run/log.offset"; else echo 0 >"$run/log.offset"; fi
  now >"$run/start.time"
  rm -f "$(pid_file "$engine")"
  (
    cd "$run"
    [[ ${TRUC_CASSANDRA_MLOCK:-0} == 1 ]] || ulimit -S -l 64 2>/dev/null || true
    # shellcheck disable=SC2016  # $$ is the pid of the inner shell, which becomes the JVM
    exec setsid bash -c 'echo $$ >"$0"; exec "$@"' "$(pid_file "$engine")" \
      "${wrapper[@]+"${wrapper[@]}"}" "$JAVA" "${OPTS[@]}"
  ) </dev/null >>"$run/logs/stdout.log" 2>&1 9>&- &
  local i
  for i in $(seq 1 50); do
    [[ -s $(pid_file "$engine") ]] && break
    sleep 0.1
  done
  say "$engine: started pid $(cat "$(pid_file "$engine")" 2>/dev/null || echo '?') (java $JAVA_MAJOR, ports $(engine_ports "$engine" | tr ' ' ','), logs in $run/logs)"
}

# --- commands --------------------------------------------------------------------------------

lock() {  # serialise up/down/wipe between concurrent callers
  command -v flock >/dev/null || return 0
  exec 9>"$ENGINES_HOME/.lock"
  flock -w "$((TIMEOUT + STOP_TIMEOUT))" 9 || die "another engines.sh holds $ENGINES_HOME/.lock"
}

cmd_fetch() {
  parse_engines "$@"
  local e
  for e in "${ENGINES[@]}"; do
    fetch_engine "$e"
    say "$e jars: $JARS_DIR/$e ($(<"$JARS_DIR/$e/.fetched"))"
  done
}

cmd_up() {
  parse_engines "$@"
  lock
  local e pid to_wait=()
  for e in "${ENGINES[@]}"; do fetch_engine "$e"; done
  find_java
  for e in "${ENGINES[@]}"; do
    if pid=$(engine_pid "$e"); then
      if CQL_PROBE_OK=no is_ready "$e"; then
        say "$e already running (pid $pid, port $(client_port "$e"), RSS $(rss_mib "$pid") MiB)"
        continue
      fi
      say "$e already starting (pid $pid)"
    else
      rm -f "$(pid_file "$e")"
      launch "$e"
    fi
    to_wait+=("$e")
  done
  ((${#to_wait[@]})) || return 0
  wait_ready "${to_wait[@]}"
}

cmd_wait() {
  parse_engines "$@"
  local e
  for e in "${ENGINES[@]}"; do
    engine_pid "$e" >/dev/null || die "$e is not running (engines.sh up $e)"
  done
  wait_ready "${ENGINES[@]}"
}

cmd_status() {
  parse_engines "$@"
  local e pid rc=0 state
  for e in "${ENGINES[@]}"; do
    if pid=$(engine_pid "$e"); then
      if CQL_PROBE_OK=no is_ready "$e"; then state=ready; else state=starting; rc=1; fi
      say "$e: $state, pid $pid, ports $(engine_ports "$e" | tr ' ' ','), RSS $(rss_mib "$pid") MiB, data $RUN_DIR/$e/data"
    else
      say "$e: stopped"
      rc=1
    fi
  done
  return "$rc"
}

stop_engines() {  # SIGTERM all, then wait for each; SIGKILL after STOP_TIMEOUT
  local e pid started stopping=() pids=()
  for e in "$@"; do
    if pid=$(engine_pid "$e"); then
      kill -TERM "$pid" 2>/dev/null || true
      stopping+=("$e")
      pids+=("$pid")
    else
      [[ -f $(pid_file "$e") ]] && rm -f "$(pid_file "$e")"
      finish_cds "$e" no
      say "$e not running"
    fi
  done
  started=$(now)
  local i clean
  for i in "${!stopping[@]}"; do
    e=${stopping[$i]}
    pid=${pids[$i]}
    clean=yes
    while kill -0 "$pid" 2>/dev/null; do
      if (($(printf '%.0f' "$(since "$started")") >= STOP_TIMEOUT)); then
        warn "$e (pid $pid) still running after ${STOP_TIMEOUT} s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        clean=no
        sleep 0.5
        break
      fi
      sleep 0.2
    done
    rm -f "$(pid_file "$e")"
    finish_cds "$e" "$clean"
    say "$e stopped in $(since "$started") s"
  done
}

cmd_down() {
  local wipe=no args=() a
  for a in "$@"; do
    case $a in
      --wipe) wipe=yes ;;
      *) args+=("$a") ;;
    esac
  done
  [[ ${TRUC_ENGINES_WIPE:-0} == 1 ]] && wipe=yes
  parse_engines "${args[@]+"${args[@]}"}"
  lock
  stop_engines "${ENGINES[@]}"
  if [[ $wipe == yes ]]; then
    local e
    for e in "${ENGINES[@]}"; do
      rm -rf "${RUN_DIR:?}/$e"
      say "$e: data and logs wiped ($RUN_DIR/$e)"
    done
  fi
}

cmd_kafka_tool() {
  (($#)) || die "usage: engines.sh kafka-tool MAIN_CLASS [ARGS...]"
  fetch_engine kafka
  find_java
  exec "$JAVA" -Xmx256m -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/tools-log4j2.properties" \
    -cp "$JARS_DIR/kafka/*" "$@"
}

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

main() {
  local cmd=${1:-help}
  (($#)) && shift
  case $cmd in
    fetch) cmd_fetch "$@" ;;
    up | start) cmd_up "$@" ;;
    wait) cmd_wait "$@" ;;
    status) cmd_status "$@" ;;
    down | stop) cmd_down "$@" ;;
    wipe) cmd_down --wipe "$@" ;;
    kafka-tool) cmd_kafka_tool "$@" ;;
    help | -h | --help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
