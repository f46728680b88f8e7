#!/bin/sh
# KAFKA_FOO_BAR=x -> foo.bar=x in server.properties; storage formatted once (CLUSTER_ID).
set -eu
props=/opt/kafka/config/server.properties
env | grep '^KAFKA_' | grep -v -e '^KAFKA_HEAP_OPTS=' -e '^KAFKA_OPTS=' | sort \
  | while IFS='=' read -r name value; do
      echo "$(echo "${name#KAFKA_}" | tr 'A-Z_' 'a-z.')=${value}"
    done > "$props"
logdir=$(sed -n 's/^log\.dirs=//p' "$props")
: "${logdir:?KAFKA_LOG_DIRS must be set (the data volume)}"
if [ ! -f "$logdir/meta.properties" ]; then
  echo "kafka-entrypoint: formatting $logdir"
  java -cp '/opt/kafka/libs/*' -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
    kafka.tools.StorageTool format --cluster-id "${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" --config "$props"
fi
exec java ${KAFKA_HEAP_OPTS:--Xms512m -Xmx512m} -XX:+UseG1GC ${KAFKA_OPTS:-} \
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties -cp '/opt/kafka/libs/*' \
  kafka.Kafka "$props"
