#!/bin/sh
# broker.sh - a real single-node Apache Kafka broker for the test suite.
#
#   broker.sh fetch JARDIR            put the broker's jars into JARDIR
#   broker.sh start JARDIR STATEDIR   start a broker, print its address
#   broker.sh stop STATEDIR           stop it and wait until it has exited
#
# Design.  The broker is Kafka 3.9 (not 4.x: Debian's librdkafka 2.0.2 still
# speaks protocol versions that Kafka 4 removed) in KRaft combined mode: one
# JVM that is both controller and broker, node id 1, no ZooKeeper.  Its jars
# are plain Maven Central artifacts listed in pom.xml next to this script;
# "fetch" is the only step that touches the network (through mvn and its
# ~/.m2 cache) and does nothing when JARDIR already holds the jars for the
# current pom (after a pom change it replaces the *.jar files in JARDIR, so
# give it a folder of its own).  "start" and "stop" never download anything.
#
# "start" gives every broker its own folder (STATEDIR) and two free loopback
# ports, chosen by binding port 0 (a short race with other programs, as in
# tests/redis_server.h).  It writes server.properties and a log4j2
# configuration there, formats the log folder with kafka.tools.StorageTool
# ("format --standalone": the node alone is the KRaft quorum), runs
# kafka.Kafka in the background with its output in STATEDIR/kafka.log, and
# waits (BROKER_START_TIMEOUT seconds, default 60) until "kcat -L" gets
# metadata from it.  STATEDIR then holds "bootstrap" (host:port) and "pid".
# A STATEDIR that was already formatted is started again as it is, on the
# same ports and with its topics and offsets (restart tests).  If the broker
# dies or does not answer in time, start stops it, shows its errors and the
# end of its log, and fails.
#
# "stop" sends SIGTERM (Kafka shuts down cleanly), then SIGKILL after 15 s,
# and returns once the process is gone.  STATEDIR is left for the caller to
# inspect or remove.
#
# Needs: java (17), kcat, perl (perl-base, for the free ports), mvn for
# fetch only.  BROKER_JAVA_OPTS adds options to the broker's JVM.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
pom="$here/pom.xml"
kafka_jar=kafka_2.13-3.9.1.jar

die() {
    echo "broker.sh: $*" >&2
    exit 1
}

usage() {
    cat >&2 <<EOF
usage: broker.sh fetch JARDIR
       broker.sh start JARDIR STATEDIR
       broker.sh stop STATEDIR
EOF
    exit 2
}

# abspath DIR: DIR as an absolute path (DIR must exist).
abspath() {
    (cd "$1" && pwd)
}

# The fingerprint of pom.xml: JARDIR is up to date when it holds the same.
pom_sum() {
    cksum <"$pom" | cut -d' ' -f1,2
}

cmd_fetch() {
    [ $# -eq 1 ] || usage
    mkdir -p "$1" || die "cannot create $1"
    dir=$(abspath "$1")
    stamp="$dir/.broker-jars"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(pom_sum)" ] &&
        [ -f "$dir/$kafka_jar" ]; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 ||
        die "mvn not found: install maven to fetch the Kafka jars"
    new="$dir/.new"
    rm -rf "$new"
    if ! mvn -q -B -f "$pom" dependency:copy-dependencies \
        -DoutputDirectory="$new" >"$dir/.mvn.log" 2>&1; then
        sed 's/\x1b\[[0-9;]*m//g' "$dir/.mvn.log" | tail -n 30 >&2
        rm -rf "$new"
        die "mvn could not fetch the Kafka jars (full output: $dir/.mvn.log)"
    fi
    [ -f "$new/$kafka_jar" ] || die "mvn did not produce $kafka_jar"
    # Replace the jars of an older pom, so that one version of each is left.
    rm -f "$dir"/*.jar
    mv "$new"/*.jar "$dir"/
    rm -rf "$new" "$dir/.mvn.log"
    pom_sum >"$stamp"
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
    kill -0 "$1" 2>/dev/null || return 1
    pstate=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
    [ -n "$pstate" ] && [ "$pstate" != Z ]
}

# broker_pid STATEDIR: the pid of the broker running for STATEDIR, if any
# (checked against its command line, in case the pid has been reused).
broker_pid() {
    [ -f "$1/pid" ] || return 1
    p=$(cat "$1/pid")
    case $p in '' | *[!0-9]*) return 1 ;; esac
    pid_alive "$p" || return 1
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null |
        grep -qF "kafka.Kafka $1/server.properties" || return 1
    echo "$p"
}

# Two free TCP ports on 127.0.0.1, held at once so that they differ.
free_ports() {
    perl -MIO::Socket::INET -e '
        my @s = map {
            IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
                                  Proto => "tcp", Listen => 1)
                or die "bind: $!\n"
        } 1 .. 2;
        print join(" ", map { $_->sockport } @s), "\n";'
}

# A random cluster id: 16 bytes in URL-safe base64 without padding, as
# Kafka's Uuid prints them (and, like Kafka, never starting with "-").
cluster_id() {
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
    case $id in -*) id="A${id#?}" ;; esac
    echo "$id"
}

write_config() {
    dir=$1 bport=$2 cport=$3
    cat >"$dir/server.properties" <<EOF
# Written by tests/kafka/broker.sh: one KRaft node, broker and controller.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:$cport
log.dirs=$dir/data
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
    cat >"$dir/log4j2.properties" <<'EOF'
# Written by tests/kafka/broker.sh: everything to stdout (kafka.log).
# No log4j shutdown hook: it would stop logging while Kafka's own shutdown
# hook is still running, losing the end of the log.
status = warn
shutdownHook = disable
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.zookeeper.name = org.apache.zookeeper
logger.zookeeper.level = warn
EOF
}

# show_log STATEDIR: the errors and the last lines of the broker's log.
show_log() {
    grep -E '^\[[^]]*\] (ERROR|FATAL) ' "$1/kafka.log" | tail -n 10 >&2
    echo "..." >&2
    tail -n 10 "$1/kafka.log" >&2
}

# The broker answers metadata requests on its bootstrap address.
broker_ready() {
    kcat -b "$1" -L -m 2 >/dev/null 2>&1
}

cmd_start() {
    [ $# -eq 2 ] || usage
    [ -f "$1/$kafka_jar" ] ||
        die "no Kafka jars in $1: run 'broker.sh fetch $1' first"
    command -v java >/dev/null 2>&1 || die "java not found"
    command -v kcat >/dev/null 2>&1 || die "kcat not found"
    jars=$(abspath "$1")
    mkdir -p "$2" || die "cannot create $2"
    state=$(abspath "$2")
    if p=$(broker_pid "$state"); then
        die "a broker (pid $p) is already running for $state"
    fi
    rm -f "$state/bootstrap"
    log4j="-Dlog4j2.configurationFile=$state/log4j2.properties"

    if [ -f "$state/data/meta.properties" ] && [ -f "$state/ports" ]; then
        read -r bport cport <"$state/ports"
    else
        rm -rf "$state/data"
        ports=$(free_ports) || die "no free loopback ports"
        echo "$ports" >"$state/ports"
        read -r bport cport <"$state/ports"
        write_config "$state" "$bport" "$cport"
        java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "$log4j" \
            -cp "$jars/*" kafka.tools.StorageTool format --standalone \
            -t "$(cluster_id)" -c "$state/server.properties" \
            >"$state/format.log" 2>&1 || {
            cat "$state/format.log" >&2
            die "formatting $state/data failed"
        }
    fi
    bootstrap="127.0.0.1:$bport"

    # C1 only and the serial collector: about 2-3 s less to start on a small
    # machine, and throughput does not matter here.  Every descriptor goes
    # to the log, so that a caller reading our output through a pipe is not
    # held open by the broker.
    # shellcheck disable=SC2086  # BROKER_JAVA_OPTS is a list of options
    java -Xms64m -Xmx512m -XX:+ExitOnOutOfMemoryError \
        -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        -Djava.awt.headless=true "$log4j" ${BROKER_JAVA_OPTS:-} \
        -cp "$jars/*" kafka.Kafka "$state/server.properties" \
        </dev/null >>"$state/kafka.log" 2>&1 &
    pid=$!
    echo "$pid" >"$state/pid"

    limit=${BROKER_START_TIMEOUT:-60}
    start_time=$(date +%s)
    until broker_ready "$bootstrap"; do
        if ! pid_alive "$pid"; then
            show_log "$state"
            rm -f "$state/pid"
            die "the broker exited during start-up (log: $state/kafka.log)"
        fi
        if [ $(($(date +%s) - start_time)) -ge "$limit" ]; then
            show_log "$state"
            cmd_stop "$state" || true
            die "the broker did not answer on $bootstrap within ${limit}s"
        fi
        sleep 0.2
    done
    echo "$bootstrap" >"$state/bootstrap"
    echo "$bootstrap"
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    [ -d "$1" ] || die "no such folder: $1"
    state=$(abspath "$1")
    if ! pid=$(broker_pid "$state"); then
        rm -f "$state/pid"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    i=0
    while pid_alive "$pid"; do
        i=$((i + 1))
        if [ "$i" -eq 75 ]; then # 15 s of 0.2 s
            echo "broker.sh: pid $pid ignored SIGTERM, killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.2
    done
    rm -f "$state/pid"
}

[ $# -ge 1 ] || usage
sub=$1
shift
case $sub in
fetch) cmd_fetch "$@" ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
*) usage ;;
esac
