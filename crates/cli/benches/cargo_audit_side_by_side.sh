#!/usr/bin/env bash
# `zerotrace scan` next to cargo-audit on the real Cargo.lock files of shared/data/lockfiles/cargo,
# against the same RustSec advisories (the advisory-db commit that shared/data/vuln/osv/crates.io.zip
# was exported from; see shared/PEERS.md). Installs and fetches nothing: bring both tools and the
# advisory-db clone yourself.
#
#   cargo_audit_side_by_side.sh CARGO_AUDIT ADVISORY_DB_CLONE [ZEROTRACE [DATA_DIR [LOCKFILE_DIR]]]
#
#   CARGO_AUDIT  the cargo-audit binary (`cargo install cargo-audit --locked --root DIR` -> DIR/bin/cargo-audit)
#   ZEROTRACE    the zerotrace binary (default: target/release/zerotrace of this workspace)
#   DATA_DIR     a data dir where `zerotrace vulndb import shared/data/vuln` has run (default: ./zerotrace-data)
#
# Prints, per lockfile, the (package, version, advisory) triples both report, only ZeroTrace
# reports and only cargo-audit reports (vulnerabilities and informational warnings alike, the
# warning kind shown), then totals and the wall time of each tool over all lockfiles. Keeps every
# raw output in a temporary folder it names at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
workspace=$(cd "$here/../../.." && pwd)
audit=${1:?usage: $0 CARGO_AUDIT ADVISORY_DB [ZEROTRACE [DATA_DIR [LOCKFILE_DIR]]]}
db=${2:?usage: $0 CARGO_AUDIT ADVISORY_DB [ZEROTRACE [DATA_DIR [LOCKFILE_DIR]]]}
zerotrace=${3:-$workspace/target/release/zerotrace}
data_dir=${4:-./zerotrace-data}
locks=${5:-$workspace/../shared/data/lockfiles/cargo}
for tool in jq "$audit" "$zerotrace"; do
    command -v "$tool" >/dev/null || { echo "not found: $tool" >&2; exit 2; }
done
[ -f "$data_dir/vulndb.bin" ] || { echo "no $data_dir/vulndb.bin: run zerotrace vulndb import first" >&2; exit 2; }

work=$(mktemp -d /tmp/zt-vs-cargo-audit.XXXXXX)
both_total=0 ours_total=0 theirs_total=0 files=0 agreeing=0
audit_ns=0 ours_ns=0

for lock in "$locks"/*.lock; do
    name=$(basename "$lock" .lock)
    dir="$work/$name"
    mkdir -p "$dir"
    cp "$lock" "$dir/Cargo.lock"

    start=$(date +%s%N)
    # cargo-audit exits 1 when it finds vulnerabilities; its JSON says so too.
    "$audit" audit --db "$db" --no-fetch --stale --no-yanked -f "$dir/Cargo.lock" --json \
        >"$dir/cargo-audit.json" 2>"$dir/cargo-audit.stderr" || true
    audit_ns=$((audit_ns + $(date +%s%N) - start))

    start=$(date +%s%N)
    "$zerotrace" scan --data-dir "$data_dir" --format json "$dir/Cargo.lock" \
        >"$dir/zerotrace.json" 2>"$dir/zerotrace.stderr"
    ours_ns=$((ours_ns + $(date +%s%N) - start))

    # package <TAB> version <TAB> advisory <TAB> kind (vulnerability or the warning kind)
    jq -r '
        ([.vulnerabilities.list[] | [.package.name, .package.version, .advisory.id, "vulnerability"]]
         + [(.warnings // {}) | to_entries[] | .key as $kind | .value[]
            | select(.advisory != null) | [.package.name, .package.version, .advisory.id, $kind]])
        | unique[] | @tsv' "$dir/cargo-audit.json" | sort -u >"$dir/theirs.tsv"
    jq -r '.findings[] | . as $f | .advisories[] | select(startswith("RUSTSEC-"))
        | [$f.package.name, $f.package.version, ., ($f.informational // "vulnerability")] | @tsv' \
        "$dir/zerotrace.json" | sort -u >"$dir/ours.tsv"

    cut -f1-3 "$dir/theirs.tsv" | sort -u >"$dir/theirs.keys"
    cut -f1-3 "$dir/ours.tsv" | sort -u >"$dir/ours.keys"
    both=$(comm -12 "$dir/ours.keys" "$dir/theirs.keys" | wc -l)
    only_ours=$(comm -23 "$dir/ours.keys" "$dir/theirs.keys")
    only_theirs=$(comm -13 "$dir/ours.keys" "$dir/theirs.keys")
    n_ours=$(printf '%s' "$only_ours" | grep -c . || true)
    n_theirs=$(printf '%s' "$only_theirs" | grep -c . || true)
    files=$((files + 1))
    both_total=$((both_total + both))
    ours_total=$((ours_total + n_ours))
    theirs_total=$((theirs_total + n_theirs))
    [ "$n_ours" -eq 0 ] && [ "$n_theirs" -eq 0 ] && agreeing=$((agreeing + 1))
    printf '%-42s both %3d  only zerotrace %2d  only cargo-audit %2d\n' "$name" "$both" "$n_ours" "$n_theirs"
    [ -n "$only_ours" ] && printf '%s\n' "$only_ours" | sed 's/^/    only zerotrace:   /'
    [ -n "$only_theirs" ] && grep -F -f <(printf '%s\n' "$only_theirs") "$dir/theirs.tsv" | sed 's/^/    only cargo-audit: /'
done

echo
echo "lockfiles: $files, identical sets: $agreeing"
echo "(package, version, advisory) triples: both $both_total, only zerotrace $ours_total, only cargo-audit $theirs_total"
echo "kinds cargo-audit reported: $(cat "$work"/*/theirs.tsv | cut -f4 | sort | uniq -c | tr '\n' ' ')"
awk -v a="$audit_ns" -v o="$ours_ns" -v n="$files" 'BEGIN {
    printf "wall time over %d lockfiles: cargo-audit %.2f s (%.1f ms each), zerotrace %.2f s (%.1f ms each), ratio %.2f\n",
        n, a / 1e9, a / 1e6 / n, o / 1e9, o / 1e6 / n, o / a }'
echo "raw outputs: $work"
