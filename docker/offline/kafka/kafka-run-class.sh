#!/usr/bin/env bash
# kafka-run-class.sh CLASS [ARGS]: a class of the broker's jars, as the distribution's script runs it.
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} ${KAFKA_OPTS:-} -cp "/opt/kafka/libs/*" \
  -Dlog4j2.configurationFile="${KAFKA_TOOLS_LOG4J_CONFIG:-/opt/kafka/config/tools-log4j2.properties}" "$@"
