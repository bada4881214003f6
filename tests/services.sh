#!/bin/sh
# services.sh CMD [ARG...] - run CMD with the services the tests need.
#
# Starts a single-node Kafka broker (tests/kafka/broker.sh: Kafka 3.9.1
# in KRaft mode on loopback, jars fetched once by Maven into
# build/kafka-jars) in a temporary folder, exports its address as
# AW_KAFKA_BOOTSTRAP, runs CMD, and stops the broker whatever CMD did;
# exits with CMD's status.  Redis needs nothing here: every Redis test
# starts its own redis-server on a free port (tests/redis_server.h), so
# tests can kill and restart it.
set -eu
cd "$(dirname "$0")/.."
jars=build/kafka-jars
tests/kafka/broker.sh fetch "$jars"
state=$(mktemp -d /tmp/aw-kafka-XXXXXX)
stop() {
    tests/kafka/broker.sh stop "$state" > /dev/null 2>&1 || true
    rm -rf "$state"
}
trap stop EXIT INT TERM
AW_KAFKA_BOOTSTRAP=$(tests/kafka/broker.sh start "$jars" "$state")
export AW_KAFKA_BOOTSTRAP
echo "services: Kafka broker at $AW_KAFKA_BOOTSTRAP"
status=0
"$@" || status=$?
exit "$status"
