#!/usr/bin/env python3
"""`zerotrace scan` side by side with `cargo audit` on the same Cargo.lock files and advisories.

    benches/cargo_audit_agreement.py ZEROTRACE CARGO_AUDIT ADVISORY_DB VULNDB_BIN [LOCKFILE_DIR]

ZEROTRACE is our binary; CARGO_AUDIT the installed `cargo-audit` binary (see shared/PEERS.md for
its install and the advisory-db commit that matches shared/data/vuln/osv/crates.io.zip);
VULNDB_BIN a knowledge base made with `zerotrace vulndb import .../osv/crates.io.zip`. Compares
(package, version, RUSTSEC id) triples: cargo-audit's vulnerabilities and informational warnings
(unmaintained, unsound; yanked needs the network and is off) against every RUSTSEC advisory our
findings cite. A finding that groups aliased advisories into one vulnerability counts once per
advisory it cites. Prints agreement, every difference, and both tools' total time.
"""

import collections
import glob
import json
import os
import subprocess
import sys
import time


def ours(zerotrace, vulndb, lock):
    out = subprocess.run(
        [zerotrace, "scan", lock, "--kind", "cargo-lock", "--vulndb", vulndb, "--format", "json"],
        capture_output=True, text=True, check=False)
    found = set()
    for finding in json.loads(out.stdout)["findings"]:
        package = finding["package"]
        for advisory in finding["advisories"]:
            if advisory.startswith("RUSTSEC-"):
                found.add((package["name"], package["version"], advisory))
    return found


def theirs(cargo_audit, db, lock):
    out = subprocess.run(
        [cargo_audit, "audit", "--db", db, "--no-fetch", "--stale", "--no-yanked", "-f", lock,
         "--json"], capture_output=True, text=True, check=False)
    report = json.loads(out.stdout)
    found = set()
    entries = list(report["vulnerabilities"]["list"])
    for kind, warnings in report.get("warnings", {}).items():
        entries.extend(w for w in warnings if kind != "yanked" and w.get("advisory"))
    for entry in entries:
        found.add((entry["package"]["name"], entry["package"]["version"], entry["advisory"]["id"]))
    return found


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    zerotrace, cargo_audit, db, vulndb = sys.argv[1:5]
    here = os.path.dirname(os.path.abspath(__file__))
    lock_dir = sys.argv[5] if len(sys.argv) > 5 else os.path.join(
        here, "..", "..", "shared", "data", "lockfiles", "cargo")
    locks = sorted(glob.glob(os.path.join(lock_dir, "*.lock")))
    if not locks:
        print(f"no lockfiles in {lock_dir}", file=sys.stderr)
        sys.exit(2)
    agreed, differences, seconds = 0, [], {"zerotrace": 0.0, "cargo audit": 0.0}
    for lock in locks:
        started = time.perf_counter()
        mine = ours(zerotrace, vulndb, lock)
        seconds["zerotrace"] += time.perf_counter() - started
        started = time.perf_counter()
        peer = theirs(cargo_audit, db, lock)
        seconds["cargo audit"] += time.perf_counter() - started
        agreed += len(mine & peer)
        name = os.path.basename(lock)
        differences += [("only zerotrace", name, *t) for t in sorted(mine - peer)]
        differences += [("only cargo audit", name, *t) for t in sorted(peer - mine)]
    print(f"{len(locks)} lockfiles: {agreed} (package, version, advisory) findings in both, "
          f"{len(differences)} differences")
    for difference in differences:
        print("  " + "  ".join(difference))
    counts = collections.Counter(d[0] for d in differences)
    print(f"time: zerotrace scan {seconds['zerotrace']:.2f} s, "
          f"cargo audit (baseline) {seconds['cargo audit']:.2f} s; {dict(counts) or 'full agreement'}")


if __name__ == "__main__":
    main()
