#!/usr/bin/env bash
# The official Flink image's entry point, as far as Compose uses it: `jobmanager` starts a standalone session
# JobManager, `taskmanager` a TaskManager, each in the foreground as user flink; FLINK_PROPERTIES (lines of
# "key: value") are appended to conf/config.yaml first; anything else is run as a command. Memory settings become
# JVM options and dynamic properties the way Flink's own scripts derive them (BashJavaUtils).
set -euo pipefail
conf=/opt/flink/conf
cp="/opt/flink/lib/*"

# FLINK_PROPERTIES over config.yaml: a key it sets replaces the file's line for that key (YAML allows no duplicates)
if [ -n "${FLINK_PROPERTIES:-}" ]; then
  while IFS= read -r line; do
    key="${line%%:*}"
    [ -n "$key" ] && [ "$key" != "$line" ] || continue
    grep -v "^${key//./\\.}:" "$conf/config.yaml" > "$conf/config.yaml.next" || true
    printf '%s\n' "$line" >> "$conf/config.yaml.next"
    mv "$conf/config.yaml.next" "$conf/config.yaml"
  done <<< "$FLINK_PROPERTIES"
fi

# the last value of a flat key in config.yaml (later lines win, as in Flink)
conf_value() {
  sed -n "s/^$1:[[:space:]]*//p" "$conf/config.yaml" | tail -n 1 | sed -e "s/^'\(.*\)'$/\1/" -e 's/^"\(.*\)"$/\1/'
}

# what BashJavaUtils prints after its marker: line 1 JVM options, line 2 dynamic properties
java_utils() {
  local out
  out=$(java -cp "$cp" -Dlog4j2.configurationFile="file:$conf/log4j-console.properties" \
    org.apache.flink.runtime.util.bash.BashJavaUtils "$1" --configDir "$conf" 2>&1) \
    || { echo "$out" >&2; echo "docker-entrypoint: cannot derive the memory settings from $conf/config.yaml" >&2; exit 1; }
  sed -n 's/^BASH_JAVA_UTILS_EXEC_RESULT://p' <<< "$out"
}

run_as_flink() {
  if [ "$(id -u)" = 0 ]; then
    chown -R flink:flink /opt/flink/log /opt/flink/conf 2>/dev/null || true
    exec setpriv --reuid=flink --regid=flink --init-groups "$@"
  fi
  exec "$@"
}

case "${1:-help}" in
  jobmanager)
    params=$(java_utils GET_JM_RESOURCE_PARAMS)
    mapfile -t r <<< "$params"
    # shellcheck disable=SC2086
    run_as_flink java ${r[0]} $(conf_value env.java.opts.all) $(conf_value env.java.opts.jobmanager) \
      -Dlog4j2.configurationFile="file:$conf/log4j-console.properties" -Dlog.file=/opt/flink/log/jobmanager.log \
      -cp "$cp" org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint --configDir "$conf" \
      ${r[1]:-} "${@:2}"
    ;;
  taskmanager)
    params=$(java_utils GET_TM_RESOURCE_PARAMS)
    mapfile -t r <<< "$params"
    # shellcheck disable=SC2086
    run_as_flink java ${r[0]} $(conf_value env.java.opts.all) $(conf_value env.java.opts.taskmanager) \
      -Dlog4j2.configurationFile="file:$conf/log4j-console.properties" -Dlog.file=/opt/flink/log/taskmanager.log \
      -cp "$cp" org.apache.flink.runtime.taskexecutor.TaskManagerRunner --configDir "$conf" ${r[1]:-} "${@:2}"
    ;;
  help)
    echo "usage: jobmanager | taskmanager | COMMAND [ARGS]" >&2
    exit 1
    ;;
  *)
    exec "$@"
    ;;
esac
