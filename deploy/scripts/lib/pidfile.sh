# Process control for the throwaway servers the tests start (sourced, not run).
# The caller defines `log` and `dir`; the server's pid is kept in "$dir/server.pid".

# True while the server recorded in the pid file is alive.
pid_alive() { [ -f "$dir/server.pid" ] && kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; }

# SIGTERM, wait up to 10 s, then SIGKILL; removes the pid file.
stop() {
    if ! [ -f "$dir/server.pid" ]; then log "not running (no pid file in $dir)"; return 0; fi
    local pid; pid="$(cat "$dir/server.pid")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then log "SIGKILL $pid"; kill -KILL "$pid" 2>/dev/null || true; fi
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$dir/server.pid"
    log "stopped"
}
