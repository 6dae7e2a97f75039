#!/usr/bin/env bash
# One-shot service of docker-compose.yml: create the topics, then submit the inference job (its --model publishes
# the shipped checkpoint to the store before the job starts), the fine-tuning job and the quality job (live accuracy
# per version, automatic rollback; docs/rollout.md). Safe to rerun: topics that
# exist are kept, a version already in the store is not published twice, and a job already running is left alone.
set -euo pipefail
: "${CRMN_BOOTSTRAP_SERVERS:=kafka:29092}" "${CRMN_REST_URL:=http://jobmanager:8081}" "${CRMN_STORE:=file:///data/models}"
jar=/opt/crmn/crmn-flink-job.jar
# the model store is signed (HMAC): a key made once in the models volume, which the JobManager, every TaskManager and
# this service mount; --require-signed makes both jobs refuse to run on an unsigned store
if [ ! -s /data/models/.store-key ]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > /data/models/.store-key)
fi
crmn topics --bootstrap-servers "$CRMN_BOOTSTRAP_SERVERS"
crmn submit inference --rest-url "$CRMN_REST_URL" --jar "$jar" \
  --bootstrap-servers "$CRMN_BOOTSTRAP_SERVERS" --model /opt/crmn/models/crmn-demo --store "$CRMN_STORE" \
  --signing-key-file /data/models/.store-key --require-signed --parallelism 1 ${CRMN_INFER_ARGS:-}
crmn submit finetune --rest-url "$CRMN_REST_URL" --jar "$jar" \
  --bootstrap-servers "$CRMN_BOOTSTRAP_SERVERS" --model crmn-demo --store "$CRMN_STORE" \
  --signing-key-file /data/models/.store-key --require-signed ${CRMN_FINETUNE_ARGS:-}
crmn submit quality --rest-url "$CRMN_REST_URL" --jar "$jar" \
  --bootstrap-servers "$CRMN_BOOTSTRAP_SERVERS" --store "$CRMN_STORE" \
  --signing-key-file /data/models/.store-key --require-signed ${CRMN_QUALITY_ARGS:-}
