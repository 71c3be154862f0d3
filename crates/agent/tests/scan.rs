//! `zerotrace-agent scan`: output formats and errors.

use std::process::Command;

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
