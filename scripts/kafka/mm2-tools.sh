#!/usr/bin/env bash
# Runs scripts/kafka/mm2-tools/Mm2Tools.java: MirrorMaker 2's own client code
# (RemoteClusterUtils.translateOffsets, the formatters of connect-mirror) against a cluster.
# Compiles it first, against the jars scripts/install-kafka.sh installed, into
# target/mm2-tools/<kafka version>/ of the checkout (again whenever the source changed).
#
#   mm2-tools.sh translate BOOTSTRAP SOURCE_ALIAS GROUP
#   mm2-tools.sh format BOOTSTRAP TOPIC checkpoint|heartbeat|offset-sync COUNT TIMEOUT_MS
#
# KMIRROR_KAFKA_VERSION picks the Kafka version, as for node.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
version=${KMIRROR_KAFKA_VERSION:-$(sed -n 's/^reference=//p' "$here/versions.properties")}
tools=${KMIRROR_TOOLS:-$root/.tools}
lib=$tools/kafka/$version/lib
if [ ! -f "$lib/.complete" ]; then
    echo "mm2-tools.sh: Kafka $version is not installed in $lib: run scripts/install-kafka.sh $version" >&2
    exit 2
fi
src=$here/mm2-tools/Mm2Tools.java
out=$root/target/mm2-tools/$version
sum=$(sha256sum "$src" | cut -d' ' -f1)
if [ ! -f "$out/Mm2Tools.class" ] || [ "$(cat "$out/source.sha256" 2>/dev/null)" != "$sum" ]; then
    # Another process may compile at the same time: each into its own directory, then renamed.
    mkdir -p "$root/target"
    tmp=$(mktemp -d "$root/target/mm2-tools.XXXXXX")
    javac -nowarn -d "$tmp" -cp "$lib/*" "$src"
    echo "$sum" >"$tmp/source.sha256"
    mkdir -p "$(dirname "$out")"
    rm -rf "$out.old"
    [ -d "$out" ] && mv "$out" "$out.old"
    mv "$tmp" "$out"
    rm -rf "$out.old"
fi
exec java -Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    "-Dlog4j2.configurationFile=$here/mm2-tools/log4j2.properties" -cp "$out:$lib/*" Mm2Tools "$@"
