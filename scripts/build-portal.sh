#!/usr/bin/env bash
# Builds the admin portal (Leptos → WebAssembly, with Trunk) into portal/dist.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.local/bin:$HOME/.cargo/bin:$PATH"
echo "==> building the portal (trunk build --release)"
if [ "$(cat target/.wasm-route 2>/dev/null)" = B ]; then
    RUSTUP_TOOLCHAIN=debian-web RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
        trunk --offline true build --release
else
    trunk --offline true build --release
fi
wasm=$(ls portal/dist/*.wasm)
echo "==> portal built: $(stat -c %s "$wasm") bytes of wasm, $(gzip -9 -c "$wasm" | wc -c) gzipped"
