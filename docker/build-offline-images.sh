#!/usr/bin/env bash
# Builds, without any image registry, a local stand-in for every image docker/docker-compose.yml uses, so that the
# stack runs where `docker pull` cannot (this project's CI machines):
#
#   crmn-offline/base:bookworm                      Debian 12 minbase (debootstrap) with JDK 17, Maven, curl, wget,
#                                                   Prometheus: the root of the images below
#   crmn-offline/kafka:4.2.0                        for apache/kafka:4.2.0 (KRaft broker from Maven Central)
#   crmn-offline/flink:2.2.1-scala_2.12-java17      for flink:2.2.1-scala_2.12-java17 (Flink's jars from Maven Central)
#   crmn-offline/maven:3.9.9-eclipse-temurin-17     for maven:3.9.9-eclipse-temurin-17 (the crmn image's build stage)
#   crmn-offline/prometheus:v2.55.1                 for prom/prometheus:v2.55.1 (Debian's prometheus)
#
# Grafana is left out: no Grafana package is reachable from these machines (docker-compose.offline.yml puts it
# behind a profile; the dashboard's metric names are checked by ComposeStackITCase instead).
#
# Usage (repository root, DOCKER_HOST naming the engine):
#   bash docker/build-offline-images.sh && \
#   docker-compose -f docker/docker-compose.yml -f docker/docker-compose.offline.yml up -d --build
#
# Safe to run again: an image that exists is rebuilt from Docker's cache (seconds); the base image is made once
# (debootstrap, about a minute) unless CRMN_OFFLINE_REBUILD_BASE=1. Needs root for debootstrap (installed with apt
# when missing), Maven (the jars) and a Debian mirror (the first one in /etc/apt/sources.list(.d), else
# deb.debian.org; CRMN_DEBIAN_MIRROR overrides it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
offline="$root/docker/offline"
stage="$root/target/offline-images"
say() { echo "build-offline-images: $*" >&2; }

docker info > /dev/null 2>&1 || { say "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset})"; exit 1; }
mkdir -p "$stage"

# ---- base: debootstrap'ed Debian, imported as an image ---------------------------------------------------------------
base=crmn-offline/base:bookworm
if [ "${CRMN_OFFLINE_REBUILD_BASE:-0}" = 1 ] || ! docker image inspect "$base" > /dev/null 2>&1; then
  command -v debootstrap > /dev/null 2>&1 || {
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap > /dev/null 2>&1 \
      || { apt-get update -q > /dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap > /dev/null; }
  }
  mirror="${CRMN_DEBIAN_MIRROR:-}"
  if [ -z "$mirror" ]; then
    mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)[[:space:]]*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
  fi
  if [ -z "$mirror" ]; then
    mirror=$(sed -n 's/^deb[[:space:]]\+\(http[^[:space:]]*\/debian\)[[:space:]].*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
  fi
  mirror="${mirror:-http://deb.debian.org/debian}"
  rootfs="$stage/rootfs"
  rm -rf "$rootfs"
  say "debootstrap bookworm from $mirror (about a minute)"
  debootstrap --variant=minbase \
    --include=openjdk-17-jdk-headless,maven,curl,wget,ca-certificates,prometheus,procps \
    bookworm "$rootfs" "$mirror" > "$stage/debootstrap.log" 2>&1 \
    || { tail -n 20 "$stage/debootstrap.log" >&2; say "debootstrap failed (log: $stage/debootstrap.log)"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' - "$base" > /dev/null
  rm -rf "$rootfs"
  say "$base imported"
fi

# ---- the stand-ins -----------------------------------------------------------------------------------------------
# copies a stand-in's folder to the stage (its Dockerfile and scripts), then runs the given preparation in it
stage_dir() {
  rm -rf "${stage:?}/$1"
  cp -r "$offline/$1" "$stage/$1"
}
jars() { # jars POM OUTDIR: the runtime closure of a stand-in's POM
  mvn -B -q -f "$1" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$2" > "$stage/mvn.log" 2>&1 \
    || { tail -n 30 "$stage/mvn.log" >&2; say "could not resolve the jars of $1"; exit 1; }
}
build() { # build TAG DIR
  say "building $1"
  docker build -q -t "$1" "$2" > "$stage/docker-build.log" 2>&1 \
    || { tail -n 30 "$stage/docker-build.log" >&2; say "docker build of $1 failed"; exit 1; }
}

stage_dir kafka
jars "$stage/kafka/pom.xml" "$stage/kafka/libs"
build crmn-offline/kafka:4.2.0 "$stage/kafka"

stage_dir flink
jars "$stage/flink/pom.xml" "$stage/flink/lib"
jars "$stage/flink/opt-pom.xml" "$stage/flink/opt"
build crmn-offline/flink:2.2.1-scala_2.12-java17 "$stage/flink"

stage_dir maven
cp /etc/ssl/certs/ca-certificates.crt "$stage/maven/ca-certificates.crt"
java_cacerts=/etc/ssl/certs/java/cacerts
[ -f "$java_cacerts" ] || java_cacerts="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")/lib/security/cacerts"
cp "$java_cacerts" "$stage/maven/cacerts"
build crmn-offline/maven:3.9.9-eclipse-temurin-17 "$stage/maven"

stage_dir prometheus
build crmn-offline/prometheus:v2.55.1 "$stage/prometheus"

say "done: $(docker images --format '{{.Repository}}:{{.Tag}}' | grep '^crmn-offline/' | sort | tr '\n' ' ')"
