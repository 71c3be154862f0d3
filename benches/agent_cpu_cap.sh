#!/usr/bin/env bash
# The share of one core that `zerotrace-agent scan` uses under its CPU cap, next to the same scan
# uncapped (the baseline, measured in the same run). Each figure is the agent's own report:
# CPU time (user + system) over wall time, and the time the cap paused it.
#
#   benches/agent_cpu_cap.sh [path/to/zerotrace-agent] [root to scan] [caps...]
#
# Defaults: target/release/zerotrace-agent, / (what the daemon scans), caps 5 and 20.
set -euo pipefail
agent="${1:-target/release/zerotrace-agent}"
root="${2:-/}"
shift $(( $# < 2 ? $# : 2 ))
caps=("$@")
[ ${#caps[@]} -eq 0 ] && caps=(5 20)

# The agent's summary line: "N packages, E unreadable files, in W s (C s CPU, P s paused by ...)".
scan_figures() {
    "$agent" scan --root "$root" "$@" 2>&1 >/dev/null | awk '
        / packages, / {
            gsub(/[(),s]/, " ")
            packages=$1; wall=$7; cpu=$8; paused=$10
            printf "%6d packages  wall %7.2f s  CPU %6.2f s  paused %7.2f s  share %5.1f%% of a core\n",
                packages, wall, cpu, paused, (wall > 0 ? 100 * cpu / wall : 0)
        }'
}

# A first scan warms the page cache, so the baseline and the capped runs read the same way.
"$agent" scan --root "$root" >/dev/null 2>&1
printf "uncapped (baseline)  "
scan_figures
for cap in "${caps[@]}"; do
    printf "cap %3s%%             " "$cap"
    scan_figures --cpu-limit "$cap"
done
