#!/usr/bin/env bash
# The Compose stack for real, as CI runs it (.ci/run): builds the offline stand-in images, starts
# docker/docker-compose.yml with docker/docker-compose.offline.yml, and checks from the host that
#   - Kafka (localhost:9092), Flink's REST API (localhost:8081) and Prometheus (localhost:9090) answer;
#   - both jobs reach RUNNING on the stack's JobManager;
#   - frames sent from the host by independent clients (kcat, and `./crmn produce`) each get exactly one committed
#     prediction, and bad frames land in dead-letters;
#   - Prometheus scrapes the jobs' metrics, and the model store the jobs run on is signed;
#   - `down -v` leaves no container, network or volume of the stack behind.
# Prints how long each phase took. Where no Docker engine answers, it starts one on a private socket (root; Debian's
# docker.io, installed if missing) with its image store outside the clone, ${CRMN_DOCKER_DIR:-/var/lib/crmn-docker},
# so that a second run on the same machine reuses the images, and stops it at the end (CRMN_KEEP_ENGINE=1: leaves it
# running for the caller, with DOCKER_HOST=unix://$CRMN_DOCKER_DIR/docker.sock).
#
#   bash docker/smoke-test.sh          # from the repository root; exit 0 when every check passed
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { echo "smoke-test: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
t0=$SECONDS
phase_start=$SECONDS
phases=()
phase() { phases+=("$(printf '%-34s %4d s' "$1" $((SECONDS - phase_start)))"); phase_start=$SECONDS; }

# ---- tools and engine ------------------------------------------------------------------------------------------------
need=()
command -v dockerd > /dev/null 2>&1 || need+=(docker.io)
command -v docker-compose > /dev/null 2>&1 || need+=(docker-compose)
command -v kcat > /dev/null 2>&1 || need+=(kcat)
command -v debootstrap > /dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" > /dev/null 2>&1 \
    || { apt-get update -q > /dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" > /dev/null; }
fi
engine_dir="${CRMN_DOCKER_DIR:-/var/lib/crmn-docker}"
started_engine=""
if ! docker info > /dev/null 2>&1; then
  mkdir -p "$engine_dir/data" "$engine_dir/exec"
  export DOCKER_HOST="unix://$engine_dir/docker.sock"
  if ! docker info > /dev/null 2>&1; then
    say "starting a Docker engine on $DOCKER_HOST (image store $engine_dir/data)"
    rm -f "$engine_dir/docker.sock" "$engine_dir/docker.pid"
    dockerd --iptables=false --ip6tables=false --bridge=none --data-root "$engine_dir/data" \
      --exec-root "$engine_dir/exec" -H "$DOCKER_HOST" --pidfile "$engine_dir/docker.pid" \
      > "$engine_dir/dockerd.log" 2>&1 &
    started_engine=$!
    for _ in $(seq 1 60); do docker info > /dev/null 2>&1 && break; sleep 1; done # polling the engine's socket
    docker info > /dev/null 2>&1 || { tail -n 20 "$engine_dir/dockerd.log" >&2; fail "the Docker engine did not start"; }
  fi
fi
export DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}"
compose=(docker-compose -p crmn-smoke -f docker/docker-compose.yml -f docker/docker-compose.offline.yml)
run_id="smoke-$(date +%s)"
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    say "logs of the stack (last lines):"
    "${compose[@]}" logs --no-color --tail=40 > "$root/target/smoke-test-logs.txt" 2>&1 || true
    tail -n 150 "$root/target/smoke-test-logs.txt" >&2 || true
  fi
  "${compose[@]}" down -v --remove-orphans > /dev/null 2>&1 || true
  if [ -n "$started_engine" ]; then
    if [ "${CRMN_KEEP_ENGINE:-0}" = 1 ]; then
      touch "$engine_dir/started-by-smoke-test" # the caller (.ci/run) uses it, then stops it
    else
      kill "$started_engine" 2> /dev/null || true
      wait "$started_engine" 2> /dev/null || true
    fi
  fi
  exit $rc
}
trap cleanup EXIT
mkdir -p target
phase "tools and engine"

# ---- images and stack ----------------------------------------------------------------------------------------------
"${compose[@]}" down -v --remove-orphans > /dev/null 2>&1 || true # a stack an interrupted run left behind
bash docker/build-offline-images.sh
phase "offline images"
say "starting the stack (first run on a machine: the crmn image's Maven build downloads its dependencies)"
"${compose[@]}" up -d --build > target/smoke-compose-up.log 2>&1 \
  || { tail -n 60 target/smoke-compose-up.log >&2; fail "docker-compose up"; }
phase "compose up --build"
# What earlier builds left untagged, about 4 GB a run on a machine that runs this again: the image this build replaced
# and the build stages (the newest stays: the next build's cached dependencies). Only images of this Dockerfile.
docker image prune -f --filter dangling=true --filter label=dev.crmn.image=crmn-flink > /dev/null || true
stale_stages=$(docker images -q --filter dangling=true --filter label=dev.crmn.image=build | tail -n +2)
if [ -n "$stale_stages" ]; then docker rmi $stale_stages > /dev/null 2>&1 || true; fi

# ---- checks --------------------------------------------------------------------------------------------------------
wait_for() { # wait_for SECONDS WHAT COMMAND...: polls COMMAND every 2 s until it succeeds
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" > /dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "$what (not within $limit s)"
    sleep 2 # polling a service with a deadline
  done
}
jobs_running() {
  local o
  o=$(curl -fsS http://localhost:8081/jobs/overview) || return 1
  [ "$(grep -o '"state":"RUNNING"' <<< "$o" | wc -l)" -ge 3 ] && grep -q '"name":"crmn inference' <<< "$o" \
    && grep -q '"name":"crmn fine-tuning' <<< "$o" && grep -q '"name":"crmn quality' <<< "$o"
}
wait_for 120 "Kafka answers on localhost:9092" kcat -b localhost:9092 -L -m 5
wait_for 120 "Flink's REST API answers on localhost:8081" curl -fsS http://localhost:8081/overview
wait_for 300 "the three jobs RUNNING on the stack's JobManager" jobs_running
curl -fsS http://localhost:8081/jobs/overview | grep -o '"name":"[^"]*"' | sed 's/^/smoke-test:   running: /' >&2 || true
phase "jobs RUNNING"

# good frames: 20 raw gray8 images through kcat, 30 CIFAR images through ./crmn produce; bad: 3 through kcat
frames="$root/target/smoke-frames"
rm -rf "$frames" && mkdir -p "$frames"
for i in $(seq 1 20); do
  head -c 1024 /dev/urandom > "$frames/gray-$i.raw"
  kcat -P -b localhost:9092 -t frames -k smoke -H "frame-id=$run_id-kcat-$i" \
    -H 'content-type=application/x-raw; format=gray8; width=32; height=32' "$frames/gray-$i.raw"
done
printf 'not a png at all' > "$frames/bad.png"
kcat -P -b localhost:9092 -t frames -k smoke -H "frame-id=$run_id-bad-png" -H content-type=image/png "$frames/bad.png"
head -c 100 /dev/urandom > "$frames/short.raw"
kcat -P -b localhost:9092 -t frames -k smoke -H "frame-id=$run_id-bad-raw" \
  -H 'content-type=application/x-raw; format=rgb8; width=32; height=32' "$frames/short.raw"
kcat -P -b localhost:9092 -t frames -k smoke -H "frame-id=$run_id-bad-type" -H content-type=image/gif "$frames/bad.png"
./crmn produce --bootstrap-servers localhost:9092 --topic frames --data data/cifar10-sample/test_batch.bin --limit 30 \
  --labels --frame-id-prefix "$run_id-crmn-" > /dev/null
good=50
committed_ids() { # the frame ids of committed records of a topic that belong to this run, one a line
  kcat -C -b localhost:9092 -t "$1" -X isolation.level=read_committed -o beginning -e -q -f "$2" 2> /dev/null \
    | grep -o "$run_id-[a-z]*-[a-z0-9]*" || true
}
all_predicted() { [ "$(committed_ids predictions '%s\n' | sort -u | wc -l)" -ge "$good" ]; }
wait_for 240 "a committed prediction for each of the $good good frames" all_predicted
sleep 5 # let a duplicate, if any, be committed by the next checkpoints before counting (not synchronisation)
ids=$(committed_ids predictions '%s\n')
total=$(grep -c . <<< "$ids")
distinct=$(sort -u <<< "$ids" | grep -c .)
[ "$distinct" -eq "$good" ] || fail "$distinct distinct frames predicted, expected $good"
[ "$total" -eq "$good" ] || fail "$total predictions for $good frames (duplicates)"
grep -q -- "-bad-" <<< "$ids" && fail "a bad frame got a prediction"
dead_has_all() { [ "$(committed_ids dead-letters '%h\n' | grep -- '-bad-' | sort -u | wc -l)" -ge 3 ]; }
wait_for 120 "the 3 bad frames in dead-letters" dead_has_all
say "  $good frames sent from the host, $total committed predictions ($distinct distinct); 3 bad frames in dead-letters"
phase "frames, predictions, dead letters"

# the quality job: the labelled predictions of the shipped model scored (the producer's and ours: at least our 30)
v1_labelled() {
  kcat -C -b localhost:9092 -t model-quality -X isolation.level=read_committed -o beginning -e -q -f '%k %s\n' 2> /dev/null \
    | grep '^crmn-demo/v1 ' | tail -n 1 | grep -o '"labelled":[0-9]*' | head -n 1 | cut -d: -f2 # the record's, not its window's
}
quality_scored() { local n; n=$(v1_labelled); [ -n "$n" ] && [ "$n" -ge 30 ]; }
wait_for 120 "model-quality: the live accuracy of crmn-demo v1 on at least 30 labelled predictions" quality_scored
say "  model-quality: crmn-demo v1 scored on $(v1_labelled) labelled predictions"
phase "live accuracy (quality job)"

scraped() {
  curl -fsS 'http://localhost:9090/api/v1/query?query=flink_taskmanager_job_task_operator_activeModelVersion' \
    | grep -q '"result":\[{'
}
wait_for 120 "Prometheus on localhost:9090 scraping the jobs' metrics" scraped
live_accuracy_scraped() {
  curl -fsS 'http://localhost:9090/api/v1/query?query=flink_taskmanager_job_task_operator_model_version_liveAccuracy' \
    | grep -q '"model":"crmn_demo"' # the reporter writes '-' in label values as '_'
}
wait_for 120 "Prometheus scraping the quality job's live accuracy per version" live_accuracy_scraped
phase "Prometheus scrapes the jobs"
"${compose[@]}" exec -T jobmanager test -s /data/models/crmn-demo/v1/manifest.json.sig \
  || fail "the model store is not signed (submit runs the jobs with --signing-key-file and --require-signed)"

# ---- down ----------------------------------------------------------------------------------------------------------
"${compose[@]}" down -v --remove-orphans > /dev/null 2>&1 || fail "docker-compose down -v"
left=$(docker ps -aq --filter label=com.docker.compose.project=crmn-smoke | wc -l)
vols=$(docker volume ls -q --filter label=com.docker.compose.project=crmn-smoke | wc -l)
nets=$(docker network ls -q --filter label=com.docker.compose.project=crmn-smoke | wc -l)
[ "$left" -eq 0 ] && [ "$vols" -eq 0 ] && [ "$nets" -eq 0 ] || fail "down -v left $left containers, $vols volumes, $nets networks"
phase "down -v"

say "all checks passed in $((SECONDS - t0)) s:"
printf 'smoke-test:   %s\n' "${phases[@]}" >&2
