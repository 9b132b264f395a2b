#!/usr/bin/env bash
# Throwaway ClickHouse server for seawatch's integration tests.
#
#   clickhouse-test-server.sh start [DIR]   install if missing, start, wait for /ping,
#                                           print the HTTP URL on stdout (last line)
#   clickhouse-test-server.sh stop  [DIR]   stop the server started in DIR (SIGTERM, then SIGKILL)
#   clickhouse-test-server.sh kill  [DIR]   SIGKILL the server (a crash, for outage tests)
#   clickhouse-test-server.sh status [DIR]  exit 0 if the server in DIR answers /ping
#
# DIR (default /tmp/seawatch-clickhouse-test) holds the config, data, logs and pid file;
# it is created on start and kept across stop/start, so a restarted server sees its data.
# Ports: CH_HTTP_PORT (default 18123), CH_TCP_PORT (default 19000); loopback only.
# Set CH_NO_INSTALL=1 to never run apt-get. Messages go to stderr.
set -euo pipefail

cmd="${1:-start}"
dir="${2:-${CH_TEST_DIR:-/tmp/seawatch-clickhouse-test}}"
http_port="${CH_HTTP_PORT:-18123}"
tcp_port="${CH_TCP_PORT:-19000}"
url="http://127.0.0.1:${http_port}"

log() { echo "clickhouse-test-server: $*" >&2; }

find_server() {
    for c in clickhouse-server /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
        if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
    done
    if command -v clickhouse >/dev/null 2>&1; then echo "$(command -v clickhouse) server"; return 0; fi
    return 1
}

install_server() {
    if [ "${CH_NO_INSTALL:-0}" = "1" ]; then
        log "clickhouse-server not found and CH_NO_INSTALL=1"; return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "clickhouse-server not found and apt-get is not available"; return 1
    fi
    local sudo=""
    if [ "$(id -u)" != "0" ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
            log "clickhouse-server not found and not root (no sudo)"; return 1; fi
    fi
    log "installing clickhouse-server from the distribution (apt-get)"
    # policy-rc.d-less containers: the package's service start may fail; we never use it.
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q clickhouse-server clickhouse-client >&2; then
        $sudo apt-get update -q >&2 || true
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q clickhouse-server clickhouse-client >&2 || return 1
    fi
}

ping() { curl -fsS --max-time 1 "${url}/ping" >/dev/null 2>&1; }

# pid_alive and stop
. "$(dirname "${BASH_SOURCE[0]}")/lib/pidfile.sh"

write_config() {
    mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/log" "$dir/format_schemas"
    cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/server.log</log>
        <errorlog>$dir/log/server.err.log</errorlog>
        <size>10M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$http_port</http_port>
    <tcp_port>$tcp_port</tcp_port>
    <max_connections>64</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>16</max_concurrent_queries>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <mark_cache_size>67108864</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
XML
    cat >"$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>1000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
    </interval></default></quotas>
</yandex>
XML
}

start() {
    if pid_alive && ping; then log "already running (pid $(cat "$dir/server.pid"))"; echo "$url"; return 0; fi
    if ping; then log "port $http_port already answers /ping but not from $dir"; return 1; fi
    local server
    server="$(find_server)" || { install_server && server="$(find_server)"; } || {
        log "cannot install clickhouse-server"; return 1; }
    write_config
    # The server refuses to run as root only when its data dir belongs to someone else;
    # the temp dir is ours, so root is fine.
    log "starting $server on $url (dir $dir)"
    # setsid: own process group, so a test harness killing its children does not reach it
    # by accident and `stop` can signal the group.
    setsid $server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 </dev/null &
    echo $! >"$dir/server.pid"
    for _ in $(seq 1 150); do
        if ping; then log "up (pid $(cat "$dir/server.pid"))"; echo "$url"; return 0; fi
        if ! pid_alive; then
            log "server exited during start-up; last log lines:"
            tail -n 20 "$dir/log/server.err.log" "$dir/log/stdout.log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.1
    done
    log "server did not answer /ping within 15 s"; return 1
}


crash() {
    if ! [ -f "$dir/server.pid" ]; then log "not running (no pid file in $dir)"; return 0; fi
    local pid; pid="$(cat "$dir/server.pid")"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/server.pid"
    log "killed"
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    kill) crash ;;
    status) pid_alive && ping ;;
    *) echo "usage: $0 start|stop|kill|status [DIR]" >&2; exit 2 ;;
esac
