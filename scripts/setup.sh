#!/usr/bin/env bash
# Installs what building the portal (and, with --browser, the browser tests) needs, when it is
# missing: the wasm32 target, Trunk, the matching wasm-bindgen CLI, wasm-opt, GraphiQL's
# assets (precompressed), brotli, and Chromium with its driver and axe-core. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/toolchain.sh
source scripts/lib/toolchain.sh

browser=0
[ "${1:-}" = "--browser" ] && browser=1

ensure_wasm_target
ensure_cargo_tool trunk 0.21.14 --locked
# --locked fails for this version here (a locked dependency is missing from the registry).
ensure_cargo_tool wasm-bindgen-cli 0.2.130
ensure_wasm_opt
ensure_brotli
ensure_graphiql_assets
if [ "$browser" = 1 ]; then
    ensure_chromium
    ensure_axe
fi
