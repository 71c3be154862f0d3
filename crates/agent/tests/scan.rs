//! `zerotrace-agent scan`: output formats, and the CPU cap measured from outside the process.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const AGENT: &str = env!("CARGO_BIN_EXE_zerotrace-agent");

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::create_dir_all(dir.path().join("var/lib/dpkg")).unwrap();
    std::fs::write(
        dir.path().join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("var/lib/dpkg/status"),
        "Package: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.88.1-10\n\n",
    )
    .unwrap();
    dir
}

#[test]
fn scan_prints_our_json_or_cyclonedx() {
    let root = fixture();
    let out = Command::new(AGENT)
        .args(["scan", "--root"])
        .arg(root.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["schema"], "zerotrace.inventory.v1");
    assert_eq!(report["packages"][0]["name"], "curl");
    assert_eq!(report["packages"][0]["ecosystem"], "Debian:12");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 packages"));

    let out = Command::new(AGENT)
        .args(["scan", "--format", "cyclonedx", "--root"])
        .arg(root.path())
        .output()
        .unwrap();
    let bom: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    assert_eq!(bom["components"][0]["name"], "curl");

    let out = Command::new(AGENT)
        .args(["scan", "--root", "/no/such/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}

/// Runs the agent and returns (wall, CPU) of that one child, from wait4.
#[expect(
    clippy::zombie_processes,
    reason = "reaped by wait4, which std's wait cannot replace: it also returns the child's rusage"
)]
fn measure(args: &[&str]) -> (Duration, Duration) {
    let started = Instant::now();
    let child = Command::new(AGENT)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain old data that wait4 fills; the pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let wall = started.elapsed();
    let tv =
        |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    (wall, tv(usage.ru_utime) + tv(usage.ru_stime))
}

#[test]
fn a_capped_scan_of_this_machine_stays_under_its_cap() {
    let (_, uncapped_cpu) = measure(&["scan", "--root", "/"]);
    if uncapped_cpu < Duration::from_millis(100) {
        eprintln!(
            "skipped: this root scans in {uncapped_cpu:?} of CPU, too little to measure a cap"
        );
        return;
    }
    let (wall, cpu) = measure(&["scan", "--root", "/", "--cpu-limit", "20"]);
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    // One 10 ms slice of slack per pause: the cap holds to within a few points.
    assert!(
        share < 0.25,
        "capped at 20% but used {:.1}% ({cpu:?} CPU in {wall:?})",
        share * 100.0
    );
    assert!(
        wall >= cpu.mul_f64(4.0),
        "a 20% cap stretches {cpu:?} of CPU over at least 4x that wall time, took {wall:?}"
    );
}
