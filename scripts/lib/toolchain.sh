# Helpers of scripts/setup.sh. Tools go to ~/.cargo/bin and ~/.local/bin (put first on PATH,
# so Trunk finds the pinned versions and never tries to download its own).

export PATH="$HOME/.local/bin:$HOME/.cargo/bin:$PATH"
WASM_ROUTE_FILE="target/.wasm-route"

apt_install() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "ERROR: need root and apt-get to install: $*" >&2
        return 1
    fi
    if [ ! -f /tmp/.switchboard-apt-updated ]; then
        apt-get update -qq >/dev/null && touch /tmp/.switchboard-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Route A: rustup's wasm32 std. Route B (no rustup download): Debian's rustc-web building
# std from source. The chosen route is remembered for scripts/build-portal.sh.
ensure_wasm_target() {
    mkdir -p target
    if rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
        echo A > "$WASM_ROUTE_FILE"
        return 0
    fi
    echo "==> adding the wasm32 target (rustup target add wasm32-unknown-unknown)"
    if rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
        echo A > "$WASM_ROUTE_FILE"
        return 0
    fi
    echo "==> rustup could not download it; using Debian's rustc-web with build-std"
    apt_install rustc-web cargo-web rust-web-src rust-web-llvm lld-22
    rustup toolchain list | grep -q '^debian-web' || rustup toolchain link debian-web /usr
    echo B > "$WASM_ROUTE_FILE"
}

# ensure_cargo_tool CRATE VERSION [cargo install flags]
ensure_cargo_tool() {
    local crate=$1 version=$2
    shift 2
    local bin=$crate
    [ "$crate" = wasm-bindgen-cli ] && bin=wasm-bindgen
    if command -v "$bin" >/dev/null 2>&1 && "$bin" --version 2>/dev/null | grep -q " $version"; then
        return 0
    fi
    echo "==> installing $crate $version (cargo install; several minutes on 2 cores)"
    cargo install "$crate" --version "$version" "$@"
}

ensure_wasm_opt() {
    if command -v wasm-opt >/dev/null 2>&1 && wasm-opt --version 2>/dev/null | grep -q "version 132"; then
        return 0
    fi
    # Not Debian's binaryen (108): its output fails at start-up in the browser.
    echo "==> installing wasm-opt 132 (npm binaryen@132.0.0)"
    npm install -g --prefix "$HOME/.local" binaryen@132.0.0 >/dev/null
}

# The files GraphiQL's page loads (server/src/http/graphiql.rs serves these and nothing else).
GRAPHIQL_ASSETS="graphiql/graphiql.min.js graphiql/graphiql.min.css react/umd/react.production.min.js react-dom/umd/react-dom.production.min.js"

ensure_graphiql_assets() {
    local dir=tools/graphiql/node_modules
    if [ ! -f $dir/graphiql/graphiql.min.js ]; then
        echo "==> installing GraphiQL's assets (npm ci in tools/graphiql)"
        (cd tools/graphiql && npm ci --no-audit --no-fund >/dev/null)
    fi
    local f
    for f in $GRAPHIQL_ASSETS; do
        precompress "$dir/$f"
    done
}

ensure_brotli() {
    command -v brotli >/dev/null 2>&1 && return 0
    echo "==> installing brotli (apt-get install -y brotli), to precompress the portal"
    apt_install brotli || echo "WARNING: no brotli; the portal is served gzip-compressed only" >&2
}

# Writes FILE.gz and FILE.br beside FILE (when missing or older), which the server sends to
# browsers that accept them: compressing once at build time at the highest levels, not per
# request.
precompress() {
    local file=$1
    # Both tools copy the source's modification time (brotli to the second only); touching the
    # copy marks it as made from this version of the file, which the server checks.
    if [ ! "$file.gz" -nt "$file" ]; then
        gzip -9 -n -k -f "$file" && touch "$file.gz"
    fi
    if command -v brotli >/dev/null 2>&1 && [ ! "$file.br" -nt "$file" ]; then
        brotli -q 11 -k -f "$file" && touch "$file.br"
    fi
}

ensure_axe() {
    [ -f tools/axe/node_modules/axe-core/axe.min.js ] && return 0
    echo "==> installing axe-core for the accessibility checks (npm ci in tools/axe)"
    (cd tools/axe && npm ci --no-audit --no-fund >/dev/null)
}

ensure_chromium() {
    if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
        return 0
    fi
    echo "==> installing Chromium and its driver (apt-get install -y chromium chromium-driver)"
    apt_install chromium chromium-driver
}
