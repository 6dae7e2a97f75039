#!/usr/bin/env bash
# One-shot service of docker-compose.yml: create the topics, then submit the inference job (its --model publishes
# the shipped checkpoint to the store before the job starts) and the fine-tuning job. Safe to rerun: topics that
# exist are kept, a version already in the store is not published twice, and a job already running is left alone.
set -euo pipefail
: "${CRMN_BOOTSTRAP_SERVERS:=kafka:29092}" "${CRMN_REST_URL:=http://jobmanager:8081}" "${CRMN_STORE:=file:///data/models}"
jar=/opt/crmn/crmn-flink-job.jar
crmn topics --bootstrap-servers "$CRMN_BOOTSTRAP_SERVERS"
crmn submit inference --rest-url "$CRMN_REST_URL" --jar "$jar" \
  --bootstrap-servers "$CRMN_BOOTSTRAP_SERVERS" --model /opt/crmn/models/crmn-demo --store "$CRMN_STORE" \
  --parallelism 1 ${CRMN_INFER_ARGS:-}
crmn submit finetune --rest-url "$CRMN_REST_URL" --jar "$jar" \
  --bootstrap-servers "$CRMN_BOOTSTRAP_SERVERS" --model crmn-demo --store "$CRMN_STORE" ${CRMN_FINETUNE_ARGS:-}
