# shellcheck shell=bash disable=SC2034 # srv, ROUNDS, CONNS, SERVERS cross files
# Sourced by the A/B server scripts (ab_http.sh, srv_stat.sh, srv_machine.sh, srv_sched.sh,
# srv_tcpstat.sh, wrk_profile.sh): start a server and wait for it, stop it; check for wrk and
# perf; alternate servers over rounds; summarise per-run figures as medians and ranges.
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

#   stop_server              ends the server start_server started (if any) and clears $srv.
stop_server() {
    [ -n "${srv:-}" ] || return 0
    kill "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
    srv=
}

#   need_wrk NAME            exits with NAME's message unless wrk is installed; raises the
#                            open-file limit for wrk's and the servers' connections.
need_wrk() {
    command -v wrk >/dev/null || { echo "$1: wrk not installed" >&2; exit 1; }
    ulimit -n 65536 2>/dev/null || true
}

#   need_perf NAME [HINT]    exits with NAME's message (and HINT, if given) unless perf is
#                            installed.
need_perf() {
    command -v perf >/dev/null || { echo "$1: perf not installed${2:+ ($2)}" >&2; exit 1; }
}

#   server_args NAME ROUNDS CONNS LABEL=COMMAND...
#                             the A/B server scripts' common arguments: sets ROUNDS, CONNS (an
#                             array from the comma-separated list) and SERVERS (the
#                             LABEL=COMMAND entries) and calls need_wrk; a missing argument
#                             exits with NAME's usage line.
server_args() {
    local name=$1
    shift
    (($# >= 3)) || { echo "usage: $name.sh ROUNDS CONNS LABEL=COMMAND..." >&2; exit 2; }
    ROUNDS=$1
    IFS=, read -r -a CONNS <<<"$2"
    SERVERS=("${@:3}")
    need_wrk "$name"
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
#                             per entry of CONNS and of SERVERS, the median and lowest-highest of
#                             each key as `key median (low-high)` (rps as an integer, keys ending
#                             in _us with 2 decimals, else 3).
print_ranges() {
    local c s
    for c in "${CONNS[@]}"; do
        for s in "${SERVERS[@]}"; do
            awk -v l="${s%%=*}" -v c="$c" '
                $1 == l && $2 == c {
                    for (i = 3; i <= NF; i++) {
                        split($i, kv, "="); k = kv[1]
                        if (!(k in cnt)) { order[++nk] = k; cnt[k] = 0 }
                        vals[k, ++cnt[k]] = kv[2] + 0
                    }
                }
                function fmt(k, v) {
                    if (k == "rps") return sprintf("%.0f", v)
                    if (k ~ /_us$/) return sprintf("%.2f", v)
                    return sprintf("%.3f", v)
                }
                END {
                    if (!nk) exit
                    printf "%-8s c%-5s", l, c
                    for (i = 1; i <= nk; i++) {
                        k = order[i]; n = cnt[k]
                        for (a = 1; a <= n; a++) s[a] = vals[k, a]
                        for (a = 2; a <= n; a++) { # insertion sort: a handful of rounds
                            v = s[a]
                            for (b = a - 1; b >= 1 && s[b] > v; b--) s[b + 1] = s[b]
                            s[b + 1] = v
                        }
                        med = n % 2 ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
                        printf " %s %s (%s-%s)", k, fmt(k, med), fmt(k, s[1]), fmt(k, s[n])
                    }
                    printf "\n"
                }' "$1"
        done
    done
}
