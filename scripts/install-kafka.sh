#!/usr/bin/env bash
# Installs Apache Kafka (broker, tools and MirrorMaker 2) from Maven Central for the tests,
# the demo and the benchmarks, through the committed pom (scripts/kafka/pom.xml):
#
#   scripts/install-kafka.sh [VERSION ...]    (default: both versions in versions.properties)
#
# Each version's runtime jars go to a per-user cache (~/.cache/kmirror/kafka-VERSION/lib,
# XDG_CACHE_HOME moves it), are reused from there without Maven once complete (so a second
# run works offline), and are linked into the project's tools directory (.tools/kafka/VERSION;
# KMIRROR_TOOLS moves it). Once per version and JVM, a broker is started and stopped to archive
# the classes it loads (class-data sharing), which halves the start-up time of every node.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${KMIRROR_TOOLS:-$root/.tools}
versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
    versions=("$(sed -n 's/^reference=//p' "$root/scripts/kafka/versions.properties")"
              "$(sed -n 's/^compat=//p' "$root/scripts/kafka/versions.properties")")
fi

log() { printf 'install-kafka: %s\n' "$*" >&2; }

java_id=$(java -version 2>&1 | head -1)
for version in "${versions[@]}"; do
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/kmirror/kafka-$version
    if [ -f "$cache/lib/.complete" ]; then
        log "Kafka $version present"
    else
        log "fetching Kafka $version and MirrorMaker 2 from Maven Central"
        rm -rf "$cache/lib.tmp"
        mkdir -p "$cache"
        # Maven's output is shown only when it fails (quiet Maven 3.8 still prints colour
        # resets).
        if ! mvn -q -B -Dstyle.color=never -f "$root/scripts/kafka/pom.xml" "-Dkafka.version=$version" \
            org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
            -DincludeScope=runtime "-DoutputDirectory=$cache/lib.tmp" >"$cache/maven.log" 2>&1; then
            cat "$cache/maven.log" >&2
            log "Maven could not fetch Kafka $version (its output is above)"
            exit 1
        fi
        touch "$cache/lib.tmp/.complete"
        rm -rf "$cache/lib"
        mv "$cache/lib.tmp" "$cache/lib"
        rm -f "$cache/classes.jsa" "$cache/classes.jvm"
    fi
    mkdir -p "$tools/kafka"
    if [ "$(readlink "$tools/kafka/$version" 2>/dev/null)" != "$cache" ]; then
        rm -rf "$tools/kafka/$version"
        ln -s "$cache" "$tools/kafka/$version"
    fi

    if [ -f "$cache/classes.jsa" ] && [ "$(cat "$cache/classes.jvm" 2>/dev/null)" = "$java_id" ]; then
        continue
    fi
    log "archiving Kafka $version's classes for faster starts"
    rm -f "$cache/classes.jsa"
    (
        # shellcheck source=scripts/kafka-broker.sh
        source "$root/scripts/kafka-broker.sh"
        export KMIRROR_KAFKA_VERSION=$version KMIRROR_TOOLS=$tools
        port=$(kafka_free_port)
        # A run with -XX:ArchiveClassesAtExit writes the archive when the JVM exits cleanly.
        dir=$work/archive
        mkdir -p "$dir"
        controller=$(kafka_free_port)
        {
            cat "$root/scripts/kafka/base.properties"
            echo "node.id=1"
            echo "controller.quorum.voters=1@127.0.0.1:$controller"
            echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller"
            echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
            echo "log.dirs=$dir/data"
        } >"$dir/server.properties"
        "$root/scripts/kafka/node.sh" format "$dir" >"$dir/format.log" 2>&1
        lib=$(cd -P "$cache/lib" && pwd)
        java -Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
            "-XX:ArchiveClassesAtExit=$cache/classes.jsa.tmp" -Xlog:cds=off -Xlog:cds+dynamic=off \
            "-Dlog4j2.configurationFile=$root/scripts/kafka/log4j2.properties" \
            -cp "$lib/*" kafka.Kafka "$dir/server.properties" >"$dir/kafka.log" 2>&1 &
        pid=$!
        for _ in $(seq 600); do
            grep -q "Kafka Server started" "$dir/kafka.log" && break
            sleep 0.1
        done
        kill -TERM "$pid"
        wait "$pid" || true
        if [ -s "$cache/classes.jsa.tmp" ]; then
            mv "$cache/classes.jsa.tmp" "$cache/classes.jsa"
            echo "$java_id" >"$cache/classes.jvm"
        else
            log "no class archive for Kafka $version (starts stay slower); broker log: $(tail -3 "$dir/kafka.log")"
        fi
    )
done
