#!/usr/bin/env bash
# Producer service of docker-compose.yml: CIFAR-10 test images to frames (labelled, so `crmn score` can measure
# accuracy per model version) and data_batch_3/4 to frames-labelled (the fine-tuning job's stream), both at once.
# Reads the full set mounted at /data/cifar10 (CRMN_CIFAR10_DIR, default ../data/cifar10 from
# `./crmn data fetch cifar10`); with nothing there, the sample shipped in the image (2,900 images).
set -euo pipefail
: "${CRMN_BOOTSTRAP_SERVERS:=kafka:29092}" "${CRMN_FRAMES_RATE:=100}" "${CRMN_LABELLED_RATE:=200}"
data=/data/cifar10
if [ ! -f "$data/test_batch.bin" ]; then
  data=/opt/crmn/data/cifar10-sample
  echo "produce-cifar: no CIFAR-10 at /data/cifar10 (./crmn data fetch cifar10, or CRMN_CIFAR10_DIR); streaming the shipped sample" >&2
fi
for f in test_batch.bin data_batch_3.bin data_batch_4.bin; do
  [ -f "$data/$f" ] || { echo "produce-cifar: $data/$f not found (mount CIFAR-10 at /data/cifar10: CRMN_CIFAR10_DIR)" >&2; exit 1; }
done
# CRMN_CORRUPT=NAME[:SEVERITY] (crmn produce --corrupt): both streams come from a drifted camera
corrupt=()
if [ -n "${CRMN_CORRUPT:-}" ]; then
  corrupt=(--corrupt "$CRMN_CORRUPT")
  echo "produce-cifar: every image corrupted with $CRMN_CORRUPT" >&2
fi
crmn produce --bootstrap-servers "$CRMN_BOOTSTRAP_SERVERS" --topic frames-labelled --labels \
  --data "$data/data_batch_3.bin,$data/data_batch_4.bin" --rate "$CRMN_LABELLED_RATE" "${corrupt[@]}" &
labelled=$!
crmn produce --bootstrap-servers "$CRMN_BOOTSTRAP_SERVERS" --topic frames --labels \
  --data "$data/test_batch.bin" --rate "$CRMN_FRAMES_RATE" "${corrupt[@]}"
wait "$labelled"
