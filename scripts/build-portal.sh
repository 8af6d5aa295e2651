#!/usr/bin/env bash
# Builds the admin portal (Leptos → WebAssembly, with Trunk) into portal/dist: one app per area
# of the portal (portal/index.html: sign-in and keys; the others as portal/src/areas.rs names
# them), so that a first visit downloads only the first (portal/src/lib.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.local/bin:$HOME/.cargo/bin:$PATH"

trunk_build() {
    if [ "$(cat target/.wasm-route 2>/dev/null)" = B ]; then
        RUSTUP_TOOLCHAIN=debian-web RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
            trunk --offline true build --release --cargo-profile portal "$@"
    else
        trunk --offline true build --release --cargo-profile portal "$@"
    fi
}

echo "==> building the portal (trunk build --release --cargo-profile portal)"
trunk_build
# Trunk empties its dist directory first: each further app is built beside it and copied in
# (hashed names, so nothing of the first is overwritten but the shared, identical stylesheet).
# The areas besides the main one, as portal/src/areas.rs names them.
for app in $(grep -oE '\("/[^"]*", "[a-z_]+"\)' portal/src/areas.rs | grep -oE '"[a-z_]+"\)$' | tr -d '")' | sort -u); do
    echo "==> building the portal's $app app"
    trunk_build "portal/$app.html" --dist "target/portal-$app"
    # Trunk names every app's page index.html.
    mv "target/portal-$app/index.html" "portal/dist/$app.html"
    cp "target/portal-$app"/* portal/dist/
done
source scripts/lib/toolchain.sh
for f in portal/dist/*.html portal/dist/*.js portal/dist/*.wasm portal/dist/*.css portal/dist/*.ico; do
    precompress "$f"
done
for wasm in portal/dist/*.wasm; do
    echo "==> $(basename "$wasm"): $(stat -c %s "$wasm") bytes, $(stat -c %s "$wasm.gz") gzipped, $(stat -c %s "$wasm.br" 2>/dev/null || echo "no") brotli"
done
