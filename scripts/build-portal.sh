#!/usr/bin/env bash
# Builds the admin portal (Leptos → WebAssembly, with Trunk) into portal/dist.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.local/bin:$HOME/.cargo/bin:$PATH"
echo "==> building the portal (trunk build --release --cargo-profile portal)"
if [ "$(cat target/.wasm-route 2>/dev/null)" = B ]; then
    RUSTUP_TOOLCHAIN=debian-web RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
        trunk --offline true build --release --cargo-profile portal
else
    trunk --offline true build --release --cargo-profile portal
fi
source scripts/lib/toolchain.sh
for f in portal/dist/*.html portal/dist/*.js portal/dist/*.wasm portal/dist/*.css portal/dist/*.ico; do
    precompress "$f"
done
wasm=$(ls portal/dist/*.wasm)
echo "==> portal built: $(stat -c %s "$wasm") bytes of wasm, $(stat -c %s "$wasm.gz") gzipped, $(stat -c %s "$wasm.br" 2>/dev/null || echo "no") brotli"
