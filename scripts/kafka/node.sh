#!/usr/bin/env bash
# Runs Apache Kafka from the jars scripts/install-kafka.sh installed: one KRaft node, or any of
# its tools, with JVM settings for a small shared machine.
#
#   node.sh format DIR [StorageTool options]  formats DIR/data with DIR/server.properties (a
#                                             random cluster id unless -t/--cluster-id is given)
#   node.sh start DIR                         runs the node in the foreground (exec: the pid is
#                                             the JVM's, so callers can SIGSTOP or SIGKILL it)
#   node.sh java CLASS [ARGS]                 any main class on the same classpath (MirrorMaker
#                                             2, kafka.admin.ConfigCommand, ...)
#   node.sh home                              prints the installation directory
#
# KMIRROR_KAFKA_VERSION picks the version (default: the reference in versions.properties);
# KMIRROR_KAFKA_HEAP the maximum heap (default 512m); KMIRROR_KAFKA_PROFILE=bench runs the
# full JIT and the parallel collector instead of the quick-start settings used by tests;
# KMIRROR_KAFKA_JVM_PROPS adds space-separated -Dkey=value system properties.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
version=${KMIRROR_KAFKA_VERSION:-$(sed -n 's/^reference=//p' "$here/versions.properties")}
tools=${KMIRROR_TOOLS:-$root/.tools}
home=$tools/kafka/$version
if [ ! -f "$home/lib/.complete" ]; then
    echo "node.sh: Kafka $version is not installed in $home: run scripts/install-kafka.sh $version" >&2
    exit 2
fi
# The real path: the class-data-sharing archive only applies to the classpath it was made with.
home=$(cd -P "$home" && pwd)

jvm=(-Xms128m "-Xmx${KMIRROR_KAFKA_HEAP:-512m}" -Djava.awt.headless=true
     "-Dlog4j2.configurationFile=$here/log4j2.properties" -Dlog4j.configuration=file:/dev/null)
if [ "${KMIRROR_KAFKA_PROFILE:-test}" = bench ]; then
    jvm+=(-XX:+UseParallelGC)
else
    # C1 only and the serial collector: about half the start-up CPU of the defaults.
    jvm+=(-XX:+UseSerialGC -XX:TieredStopAtLevel=1)
fi
if [ -f "$home/classes.jsa" ]; then
    # Classes loaded by a broker start, archived by install-kafka.sh: starts about twice as fast.
    jvm+=("-XX:SharedArchiveFile=$home/classes.jsa" -Xlog:cds=off -Xlog:cds+dynamic=off)
fi
if [ -n "${KMIRROR_KAFKA_JVM_PROPS:-}" ]; then
    # Extra -Dkey=value system properties (space-separated), e.g. the OAuth URLs Kafka 4 allows.
    read -r -a extra_props <<<"$KMIRROR_KAFKA_JVM_PROPS"
    jvm+=("${extra_props[@]}")
fi
cp=("$home/lib/*")

cmd=${1:-}
shift || true
case $cmd in
    format)
        dir=$1
        shift
        args=("$@")
        case " ${args[*]-} " in
            *" -t "* | *" --cluster-id "*) ;;
            *) args+=(-t "$(java "${jvm[@]}" -cp "${cp[@]}" kafka.tools.StorageTool random-uuid)") ;;
        esac
        exec java "${jvm[@]}" -cp "${cp[@]}" kafka.tools.StorageTool format \
            -c "$dir/server.properties" --ignore-formatted "${args[@]}"
        ;;
    start)
        exec java "${jvm[@]}" -cp "${cp[@]}" kafka.Kafka "$1/server.properties"
        ;;
    java)
        class=$1
        shift
        exec java "${jvm[@]}" -cp "${cp[@]}" "$class" "$@"
        ;;
    home)
        echo "$home"
        ;;
    *)
        sed -n '2,16p' "${BASH_SOURCE[0]}" >&2
        exit 2
        ;;
esac
