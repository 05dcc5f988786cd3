#!/usr/bin/env bash
# The test command: installs the test dependencies (idempotent), then runs every test:
# unit and property tests, the protocol tests against Apache Kafka brokers checked with
# confluent-kafka, the fake-broker fault tests and the fuzz corpus replay.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/install-test-deps.sh
export KMIRROR_TOOLS=${KMIRROR_TOOLS:-$root/.tools}
cargo test --all-targets --features testkit "$@"
