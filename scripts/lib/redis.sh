# Makes `redis-server` available for the tests, which start their own on a loopback port
# (tests/redis.rs), installing Debian's package when it is missing. Sourced by scripts/test.sh.

ensure_redis_server() {
    command -v redis-server >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing Redis (apt-get install -y redis-server)"
        apt-get update -qq >/dev/null
        # Its post-install script may not start the service here; the tests do not need it to.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null || true
    fi
    command -v redis-server >/dev/null 2>&1
}
