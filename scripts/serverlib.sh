# shellcheck shell=bash disable=SC2034 # srv (and the callers' CONNS, SERVERS) cross files
# Sourced by the A/B server scripts (ab_http.sh, srv_stat.sh, srv_machine.sh): start a server
# and wait for it; alternate servers over rounds; summarise per-run figures as ranges.
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

#   alternate_servers ROUNDS  calls `run_one LABEL COMMAND CONNS ROUND` for every round, every
#                             entry of CONNS and every "LABEL=COMMAND" of SERVERS (arrays set by
#                             the caller), the server order rotated each round so no server
#                             always runs right after the same one.
alternate_servers() {
    local r c i n=${#SERVERS[@]} s
    for r in $(seq "$1"); do
        for c in "${CONNS[@]}"; do
            for ((i = 0; i < n; i++)); do
                s=${SERVERS[$(((i + r) % n))]}
                run_one "${s%%=*}" "${s#*=}" "$c" "$r"
            done
        done
    done
}

#   print_ranges FILE         FILE holds one line per run, `LABEL CONNS key=value...`: prints,
#                             per entry of CONNS and of SERVERS, the lowest-highest of each key
#                             (rps as an integer, keys ending in _us with 2 decimals, else 3).
print_ranges() {
    local c s
    for c in "${CONNS[@]}"; do
        for s in "${SERVERS[@]}"; do
            awk -v l="${s%%=*}" -v c="$c" '
                $1 == l && $2 == c {
                    for (i = 3; i <= NF; i++) {
                        split($i, kv, "="); k = kv[1]; v = kv[2] + 0
                        if (!(k in lo)) { order[++nk] = k; lo[k] = v; hi[k] = v }
                        if (v < lo[k]) lo[k] = v; if (v > hi[k]) hi[k] = v
                    }
                }
                END {
                    if (!nk) exit
                    printf "%-8s c%-5s", l, c
                    for (i = 1; i <= nk; i++) {
                        k = order[i]
                        if (k == "rps") printf " %s %.0f-%.0f", k, lo[k], hi[k]
                        else if (k ~ /_us$/) printf " %s %.2f-%.2f", k, lo[k], hi[k]
                        else printf " %s %.3f-%.3f", k, lo[k], hi[k]
                    }
                    printf "\n"
                }' "$1"
        done
    done
}
