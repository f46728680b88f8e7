#!/bin/sh
set -eu
: "${BOOTSTRAP_SERVERS:?BOOTSTRAP_SERVERS must be set}"
props=/opt/kafka/config/connect-distributed.properties
{
  echo "bootstrap.servers=${BOOTSTRAP_SERVERS}"
  echo "group.id=${GROUP_ID:-1}"
  echo "config.storage.topic=${CONFIG_STORAGE_TOPIC:?CONFIG_STORAGE_TOPIC must be set}"
  echo "offset.storage.topic=${OFFSET_STORAGE_TOPIC:?OFFSET_STORAGE_TOPIC must be set}"
  echo "status.storage.topic=${STATUS_STORAGE_TOPIC:?STATUS_STORAGE_TOPIC must be set}"
  echo "config.storage.replication.factor=${CONFIG_STORAGE_REPLICATION_FACTOR:-1}"
  echo "offset.storage.replication.factor=${OFFSET_STORAGE_REPLICATION_FACTOR:-1}"
  echo "status.storage.replication.factor=${STATUS_STORAGE_REPLICATION_FACTOR:-1}"
  echo "offset.flush.interval.ms=${OFFSET_FLUSH_INTERVAL_MS:-60000}"
  echo "key.converter=org.apache.kafka.connect.json.JsonConverter"
  echo "value.converter=org.apache.kafka.connect.json.JsonConverter"
  echo "listeners=http://0.0.0.0:8083"
  echo "rest.advertised.host.name=${ADVERTISED_HOST_NAME:-$(hostname)}"
  echo "rest.advertised.port=8083"
  echo "plugin.path=/kafka/connect"
  env | grep '^CONNECT_' | sort | while IFS='=' read -r name value; do
    echo "$(echo "${name#CONNECT_}" | tr 'A-Z_' 'a-z.')=${value}"
  done
} > "$props"
agent=""
if [ "${ENABLE_JMX_EXPORTER:-false}" = true ]; then
  agent="-javaagent:/opt/kafka/agent/jmx_prometheus_javaagent.jar=9404:/kafka/config/metrics.yaml"
fi
# A millisecond of timer slack, inherited by the JVM and its threads: Debezium's queue otherwise
# spins for the rest of each poll's last millisecond (devstack/components/connect.py says why).
echo "${TIMER_SLACK_NS:-1000000}" > "/proc/$$/timerslack_ns" 2>/dev/null || true
exec java ${HEAP_OPTS:--Xms768m -Xmx768m} -XX:+UseG1GC $agent \
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties -cp '/opt/kafka/libs/*' \
  org.apache.kafka.connect.cli.ConnectDistributed "$props"
