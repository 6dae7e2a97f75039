#!/usr/bin/env bash
# What apache/kafka's script of this name runs (the Compose health check calls it).
KAFKA_HEAP_OPTS=-Xmx128m exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
