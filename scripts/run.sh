#!/usr/bin/env bash
# Builds the portal and the server, then runs Switchboard on its embedded SQLite database
# (./data/switchboard.db). Extra arguments go to the binary, e.g. `scripts/run.sh seed-demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-portal.sh
cargo build --release --bin switchboard
exec target/release/switchboard "$@"
