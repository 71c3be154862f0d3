//! `zerotrace vulndb` and `zerotrace scan` as a user runs them: the real binary, the real feeds of
//! `shared/data/vuln` imported once per test binary, real lockfiles and SBOMs.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

fn shared(rel: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")).join(rel)
}

fn zerotrace(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zerotrace"));
    command.env("ZEROTRACE_DATA_DIR", data_dir);
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("zerotrace runs")
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

/// The data dir holding all of `shared/data/vuln`, imported once, and the import's JSON report.
struct Imported {
    data_dir: PathBuf,
    report: Value,
}

static IMPORTED: OnceLock<Option<Imported>> = OnceLock::new();

/// `None` (after printing why) when the shared data is not there.
///
/// nextest runs every test in its own process, so "once" has to hold across processes: the first
/// one imports under an exclusive file lock and leaves a stamp naming the binary it imported with;
/// the others wait on the lock and reuse the data dir while the stamp still matches.
fn imported() -> Option<&'static Imported> {
    IMPORTED
        .get_or_init(|| {
            let feeds = shared("vuln");
            if !feeds.is_dir() {
                eprintln!("skipped: no feed data at {}", feeds.display());
                return None;
            }
            let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
            let lock = std::fs::File::create(tmp.join("vulndb_scan.lock")).expect("lock file");
            lock.lock().expect("lock the shared import");
            let data_dir = tmp.join("vulndb_scan");
            let report_path = data_dir.join("import-report.json");
            let stamp_path = data_dir.join("imported-by");
            let stamp = binary_stamp();
            if std::fs::read_to_string(&stamp_path).ok().as_deref() != Some(stamp.as_str()) {
                let _ = std::fs::remove_dir_all(&data_dir);
                let output = run(zerotrace(&data_dir)
                    .args(["vulndb", "import", "--json"])
                    .arg(&feeds));
                assert_eq!(
                    code(&output),
                    Some(0),
                    "import failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                std::fs::write(&report_path, &output.stdout).expect("write report");
                std::fs::write(&stamp_path, &stamp).expect("write stamp");
            }
            let report = std::fs::read(&report_path).expect("read report");
            Some(Imported {
                report: serde_json::from_slice(&report).expect("report is JSON"),
                data_dir,
            })
        })
        .as_ref()
}

/// Which build of `zerotrace` made a data dir: a rebuilt binary may write another format.
fn binary_stamp() -> String {
    let binary = std::fs::metadata(env!("CARGO_BIN_EXE_zerotrace")).expect("binary metadata");
    format!("{} {:?}", binary.len(), binary.modified().ok())
}

/// A Cargo.lock v3 listing these crates.io packages.
fn cargo_lock(dir: &Path, packages: &[(&str, &str)]) -> PathBuf {
    let mut text = String::from("version = 3\n");
    for (name, version) in packages {
        text.push_str(&format!(
            "\n[[package]]\nname = \"{name}\"\nversion = \"{version}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
        ));
    }
    let path = dir.join("Cargo.lock");
    std::fs::write(&path, text).expect("write Cargo.lock");
    path
}

/// bat at a 2020 commit: pins `time 0.1.43`, inside RUSTSEC-2020-0071 (CVE-2020-26235).
const BAT_2020: &str = "lockfiles/cargo/sharkdp__bat__1dae5bbc95.lock";

fn findings_of(report: &Value) -> Vec<(String, String, Vec<String>)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let ids = f["advisories"]
                .as_array()
                .expect("advisories")
                .iter()
                .chain(std::iter::once(&f["vulnerability"]))
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            (
                f["package"]["name"].as_str().unwrap_or_default().to_owned(),
                f["package"]["version"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                ids,
            )
        })
        .collect()
}

fn has_finding(report: &Value, name: &str, version: &str, id: &str) -> bool {
    findings_of(report)
        .iter()
        .any(|(n, v, ids)| n == name && v == version && ids.iter().any(|i| i == id))
}

#[test]
fn import_reports_files_and_changes_and_a_reimport_changes_nothing() {
    let Some(kb) = imported() else { return };
    let files = kb.report["files"].as_array().expect("files");
    assert!(files.len() >= 20, "{} files", files.len());
    assert!(files.iter().all(|f| f["error"].is_null()), "{files:?}");
    let crates = files
        .iter()
        .find(|f| {
            f["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("crates.io.zip"))
        })
        .expect("crates.io.zip imported");
    assert_eq!(crates["format"], "osv-zip");
    assert_eq!(crates["records"], 1206);
    assert!(kb.report["changes"]["added"].as_u64() > Some(10_000));
    assert_eq!(kb.report["changes"]["kev_replaced"], true);

    // The same file again, over a copy of the knowledge base: nothing moves.
    let copy = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        kb.data_dir.join("vulndb.bin"),
        copy.path().join("vulndb.bin"),
    )
    .expect("copy");
    let output = run(zerotrace(copy.path())
        .args(["vulndb", "import", "--json"])
        .arg(shared("vuln/osv/crates.io.zip")));
    assert_eq!(code(&output), Some(0));
    let again = stdout_json(&output);
    assert_eq!(again["changes"]["added"], 0);
    assert_eq!(again["changes"]["updated"], Value::Array(Vec::new()));
    assert_eq!(again["changes"]["unchanged"], 1206);

    let text = run(zerotrace(copy.path())
        .args(["vulndb", "import"])
        .arg(shared("vuln/osv/crates.io.zip")));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("changes: 0 added, 0 updated, 0 withdrawn, 1206 unchanged"),
        "{text}"
    );
}

#[test]
fn import_of_a_missing_path_is_a_usage_error_and_an_unreadable_feed_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run(zerotrace(dir.path()).args(["vulndb", "import", "/nonexistent/feed.zip"]));
    assert_eq!(code(&output), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/feed.zip"));

    let garbage = dir.path().join("feed.json");
    std::fs::write(&garbage, "this is no feed").expect("write");
    let output = run(zerotrace(dir.path())
        .args(["vulndb", "import", "--json"])
        .arg(&garbage));
    assert_eq!(code(&output), Some(1));
    let report = stdout_json(&output);
    assert!(
        report["files"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("feed.json"))
    );
    // What loaded (nothing here) is still saved, so the data dir has a knowledge base.
    assert!(dir.path().join("vulndb.bin").is_file());
}

#[test]
fn status_counts_sources_and_ecosystems() {
    let Some(kb) = imported() else { return };
    let output = run(zerotrace(&kb.data_dir).args(["vulndb", "status", "--json"]));
    assert_eq!(code(&output), Some(0));
    let status = stdout_json(&output);
    assert_eq!(status["ecosystems"]["crates.io"], 1206);
    assert_eq!(status["kev"], 1404);
    assert_eq!(status["epss"], 360_142);
    assert!(status["sources"]["osv"]["advisories"].as_u64() > Some(8_000));
    assert!(
        status["sources"]["debian-dsa"]["last_modified"].is_string()
            || status["sources"]["osv"]["last_modified"].is_string()
    );
    let text = run(zerotrace(&kb.data_dir).args(["vulndb", "status"]));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("crates.io"), "{text}");
}

#[test]
fn show_finds_a_vulnerability_by_any_alias() {
    let Some(kb) = imported() else { return };
    let mut ids = Vec::new();
    for alias in ["RUSTSEC-2020-0071", "GHSA-wcg3-cvx6-7396", "CVE-2020-26235"] {
        let output = run(zerotrace(&kb.data_dir).args(["vulndb", "show", alias, "--json"]));
        assert_eq!(code(&output), Some(0), "{alias}");
        let view = stdout_json(&output);
        let advisories = view["advisories"].as_array().expect("advisories");
        let rustsec = advisories
            .iter()
            .find(|a| a["id"] == "RUSTSEC-2020-0071")
            .expect("the RustSec advisory");
        assert_eq!(rustsec["affected"][0]["package"], "time");
        assert!(
            rustsec["affected"][0]["fixed"]
                .as_array()
                .is_some_and(|f| f.iter().any(|v| v == "0.2.23"))
        );
        assert_eq!(view["severity"]["level"], "medium");
        ids.push(view["id"].clone());
    }
    assert!(ids.iter().all(|id| *id == "CVE-2020-26235"), "{ids:?}");

    let output = run(zerotrace(&kb.data_dir).args(["vulndb", "show", "CVE-2021-44228"]));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("KEV:      known exploited"), "{text}");

    let output = run(zerotrace(&kb.data_dir).args(["vulndb", "show", "RUSTSEC-1999-9999"]));
    assert_eq!(code(&output), Some(1));
}

#[test]
fn a_real_cargo_lock_finds_its_rustsec_advisories_in_every_format() {
    let Some(kb) = imported() else { return };
    let lock = shared(BAT_2020);
    let dir = tempfile::tempdir().expect("tempdir");
    let named = dir.path().join("Cargo.lock");
    std::fs::copy(&lock, &named).expect("copy");

    let output = run(zerotrace(&kb.data_dir)
        .args(["scan", "--format", "json"])
        .arg(&named));
    assert_eq!(code(&output), Some(0));
    let report = stdout_json(&output);
    assert_eq!(report["schema"], "zerotrace.scan.v1");
    assert_eq!(report["kind"], "lockfile:cargo-lock");
    assert!(has_finding(&report, "time", "0.1.43", "RUSTSEC-2020-0071"));
    assert!(report["summary"]["packages"].as_u64() > Some(100));
    let time = report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["package"]["name"] == "time"))
        .expect("the time finding");
    assert_eq!(time["vulnerability"], "CVE-2020-26235");
    // RUSTSEC-2020-0071's ranges leave 0.2.0 itself unaffected: the fix of the segment that
    // matched, not the 0.2.23 line.
    assert_eq!(time["fixed"], serde_json::json!(["0.2.0"]));
    assert_eq!(time["fixed_in"], "0.2.0");
    assert!(
        time["range"]
            .as_str()
            .is_some_and(|r| r.starts_with(">=0.0.0-0 <0.2.0 ") && r.ends_with("<0.2.23 (SEMVER)"))
    );
    assert_eq!(time["confidence"], "ecosystem-exact");

    // Any file name with --kind reads the same.
    let output = run(zerotrace(&kb.data_dir)
        .args(["scan", "--format", "json", "--kind", "cargo-lock"])
        .arg(&lock));
    assert_eq!(code(&output), Some(0));
    assert_eq!(findings_of(&stdout_json(&output)), findings_of(&report));

    let output = run(zerotrace(&kb.data_dir).arg("scan").arg(&named));
    let table = String::from_utf8_lossy(&output.stdout);
    let header = table.lines().next().unwrap_or_default();
    assert!(header.starts_with("PACKAGE"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("time ") && l.contains("CVE-2020-26235 (RUSTSEC-2020-0071)")),
        "{table}"
    );
    let findings = report["summary"]["findings"].as_u64().unwrap_or_default();
    assert!(
        table.contains(&format!("{findings} findings")),
        "summary line: {table}"
    );

    let output = run(zerotrace(&kb.data_dir)
        .args(["scan", "--format", "sarif"])
        .arg(&named));
    assert_eq!(code(&output), Some(0));
    check_sarif(&stdout_json(&output), findings);

    let output = run(zerotrace(&kb.data_dir)
        .args(["scan", "--format", "cyclonedx"])
        .arg(&named));
    assert_eq!(code(&output), Some(0));
    check_cyclonedx(
        &stdout_json(&output),
        "pkg:cargo/time@0.1.43",
        "CVE-2020-26235",
    );
}

/// SARIF 2.1.0 structure: unique rules, results pointing at their rule by id and index.
fn check_sarif(sarif: &Value, findings: u64) {
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "ZeroTrace");
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), rules.len());
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len() as u64, findings);
    for result in results {
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap_or("")));
        assert!(
            result["message"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        assert!(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].is_string());
    }
}

/// CycloneDX 1.5 with VEX: every `affects` ref names a component.
fn check_cyclonedx(bom: &Value, component: &str, vulnerability: &str) {
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    let refs: BTreeSet<&str> = bom["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(|c| c["bom-ref"].as_str())
        .collect();
    assert!(
        refs.contains(component),
        "{component} not among the components"
    );
    let vulnerabilities = bom["vulnerabilities"].as_array().expect("vulnerabilities");
    for v in vulnerabilities {
        let affects = v["affects"].as_array().expect("affects");
        assert!(!affects.is_empty());
        for a in affects {
            assert!(refs.contains(a["ref"].as_str().unwrap_or("")), "{a}");
        }
        assert!(v["ratings"].as_array().is_some_and(|r| !r.is_empty()));
    }
    let v = vulnerabilities
        .iter()
        .find(|v| v["id"] == vulnerability)
        .expect("the vulnerability");
    assert!(
        v["affects"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["ref"] == component))
    );
}

#[test]
fn fail_on_sets_the_exit_code_by_severity() {
    let Some(kb) = imported() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // CVE-2020-26235 scores 6.2: medium.
    let vulnerable = cargo_lock(dir.path(), &[("time", "0.1.43")]);
    for (threshold, expected) in [("low", 1), ("medium", 1), ("high", 0), ("critical", 0)] {
        let output = run(zerotrace(&kb.data_dir)
            .args(["scan", "--format", "json", "--fail-on", threshold])
            .arg(&vulnerable));
        assert_eq!(code(&output), Some(expected), "--fail-on {threshold}");
        assert_eq!(stdout_json(&output)["summary"]["failed"], expected == 1);
    }
    let clean = cargo_lock(dir.path(), &[("serde", "1.0.200"), ("itoa", "1.0.11")]);
    let output = run(zerotrace(&kb.data_dir)
        .args(["scan", "--fail-on", "low"])
        .arg(&clean));
    assert_eq!(code(&output), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("2 packages, 2 distinct; 0 findings"),
        "{text}"
    );
    assert!(text.contains("--fail-on low: passed"), "{text}");
}

#[test]
fn bad_input_is_exit_2_naming_the_file() {
    let Some(kb) = imported() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"\x00\x01 not a lockfile and not an SBOM").expect("write");
    let output = run(zerotrace(&kb.data_dir).arg("scan").arg(&garbage));
    assert_eq!(code(&output), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("garbage.bin"), "{stderr}");
    assert!(output.stdout.is_empty());

    let broken = dir.path().join("Cargo.lock");
    std::fs::write(&broken, "[[package]\nname = ").expect("write");
    let output = run(zerotrace(&kb.data_dir).arg("scan").arg(&broken));
    assert_eq!(code(&output), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Cargo.lock"));

    let output = run(zerotrace(&kb.data_dir).args(["scan", "/nonexistent/Cargo.lock"]));
    assert_eq!(code(&output), Some(2));

    let output = run(zerotrace(&kb.data_dir).args(["scan", "--format", "xml", "Cargo.lock"]));
    assert_eq!(code(&output), Some(2));
}

#[test]
fn scan_without_a_knowledge_base_says_how_to_get_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lock = cargo_lock(dir.path(), &[("time", "0.1.43")]);
    let output = run(zerotrace(&dir.path().join("empty")).arg("scan").arg(&lock));
    assert_eq!(code(&output), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("run `zerotrace vulndb import ../shared/data/vuln` first"),
        "{stderr}"
    );
}

#[test]
fn real_sboms_are_read_by_content_and_matched() {
    let Some(kb) = imported() else { return };
    // OWASP Juice Shop's CycloneDX 1.4 JSON: 1115 npm components, 978 distinct versions.
    let output = run(zerotrace(&kb.data_dir)
        .args(["scan", "--format", "json"])
        .arg(shared("sbom/cyclonedx/juice-shop-14.1.1-npm.cdx-1.4.json")));
    assert_eq!(code(&output), Some(0));
    let report = stdout_json(&output);
    assert_eq!(report["kind"], "sbom:cyclonedx-json");
    assert_eq!(report["summary"]["packages"], 1115);
    assert_eq!(report["summary"]["distinct"], 978);
    assert!(has_finding(&report, "lodash", "2.4.2", "CVE-2018-3721"));

    // The same BOM as XML finds the same.
    let output = run(zerotrace(&kb.data_dir)
        .args(["scan", "--format", "json"])
        .arg(shared("sbom/cyclonedx/juice-shop-14.1.1-npm.cdx-1.4.xml")));
    assert_eq!(code(&output), Some(0));
    let xml = stdout_json(&output);
    assert_eq!(xml["kind"], "sbom:cyclonedx-xml");
    assert_eq!(findings_of(&xml), findings_of(&report));

    // SPDX 2.3 of a Rust binary: its tokio is in RustSec's unsound advisories.
    let spdx = shared("sbom/spdx/example11-rust-hello-server.spdx-2.3.json");
    let output = run(zerotrace(&kb.data_dir)
        .args(["scan", "--format", "json"])
        .arg(&spdx));
    let report = stdout_json(&output);
    assert_eq!(report["kind"], "sbom:spdx-json");
    assert!(has_finding(&report, "tokio", "1.19.2", "RUSTSEC-2023-0005"));
    let tokio = report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["advisories"][0] == "RUSTSEC-2023-0005"))
        .expect("the tokio finding");
    assert_eq!(tokio["informational"], "unsound");

    let output = run(zerotrace(&kb.data_dir)
        .args(["scan", "--format", "cyclonedx"])
        .arg(&spdx));
    check_cyclonedx(
        &stdout_json(&output),
        "pkg:cargo/tokio@1.19.2",
        "GHSA-4q83-7cq4-p6wg",
    );
}
