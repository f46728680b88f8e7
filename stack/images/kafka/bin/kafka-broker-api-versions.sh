#!/bin/sh
# The public image's health-check tool, from the same jars.
exec java -Xmx128m -Dlog4j2.configurationFile=/opt/kafka/config/log4j2-quiet.properties \
  -cp '/opt/kafka/libs/*' org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
