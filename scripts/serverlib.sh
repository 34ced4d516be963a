# Sourced by the A/B server scripts (ab_http.sh, srv_stat.sh): start a server and wait for it.
#   start_server "COMMAND"   runs `COMMAND $PORT $WORKERS` in the background, sets $srv to its
#                            PID and returns once 127.0.0.1:$PORT accepts (or after 5 s).
start_server() {
    # shellcheck disable=SC2086 # the command is meant to split into words
    $1 "$PORT" "$WORKERS" >/dev/null 2>&1 &
    srv=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.05
    done
}
