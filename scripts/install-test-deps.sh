#!/usr/bin/env bash
# Installs what the integration tests need into the project-local tools directory
# (.tools/ by default, KMIRROR_TOOLS to override), reusing whatever is already there:
#
#   .tools/bin/tansu   tansu 0.6.0, the Kafka-compatible test broker, built with the storage
#                      engines (default features store nothing: every fetch comes back empty)
#   .tools/venv        a Python venv with confluent-kafka 2.16.1 (librdkafka 2.16), the
#                      independent client the tests check results with
#   .tools/kafka/V     Apache Kafka and MirrorMaker 2 jars, for each version the tests run
#                      (scripts/install-kafka.sh, from Maven Central through a committed pom)
#
# Building tansu takes about ten minutes, so the build is kept in a per-user cache keyed by
# version and features and copied from there into fresh checkouts.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${KMIRROR_TOOLS:-$root/.tools}
tansu_version=0.6.0
tansu_features=dynostore,libsql
confluent_version=2.16.1
cache=${XDG_CACHE_HOME:-$HOME/.cache}/kmirror/tansu-$tansu_version-${tansu_features//,/-}

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

has_tansu() { [ -x "$1" ] && "$1" --version 2>/dev/null | grep -qx "tansu $tansu_version"; }

mkdir -p "$tools/bin"
if has_tansu "$tools/bin/tansu"; then
    log "tansu $tansu_version present"
else
    if ! has_tansu "$cache/bin/tansu"; then
        log "building tansu $tansu_version with --features $tansu_features (about 10 minutes, once)"
        cargo install tansu --locked --version "$tansu_version" --features "$tansu_features" \
            --root "$cache" --quiet
    fi
    cp "$cache/bin/tansu" "$tools/bin/tansu.tmp"
    mv "$tools/bin/tansu.tmp" "$tools/bin/tansu"
    log "tansu $tansu_version installed in $tools/bin"
fi

venv=$tools/venv
if [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" -c "import sys; from importlib.metadata import version; sys.exit(version('confluent-kafka') != '$confluent_version')" 2>/dev/null; then
    log "confluent-kafka $confluent_version present"
else
    log "creating $venv with confluent-kafka $confluent_version"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "confluent-kafka==$confluent_version"
fi

"$root/scripts/install-kafka.sh"
