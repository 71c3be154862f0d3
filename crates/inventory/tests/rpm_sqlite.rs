//! `rpmdb.sqlite` written by the real SQLite engine (Python's `sqlite3` module), holding rpm
//! header blobs large enough to need overflow pages and a multi-level b-tree, read by our own
//! page reader.

mod support;

use std::path::Path;
use std::process::Command;

use support::{rpm_header, write};
use zerotrace_inventory::Manager;
use zerotrace_inventory::scan::{Collector, ScanOptions, scan};

const CREATE: &str = r#"
import sqlite3, sys, os
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TABLE IF NOT EXISTS 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)")
db.execute("CREATE TABLE IF NOT EXISTS 'Name' (key TEXT NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))")
for f in sorted(os.listdir(sys.argv[2])):
    cur = db.execute("INSERT INTO Packages (blob) VALUES (?)", (open(os.path.join(sys.argv[2], f), 'rb').read(),))
    db.execute("INSERT INTO Name VALUES (?, ?, 0)", (f, cur.lastrowid))
db.commit()
db.close()
"#;

fn string(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn has_python_sqlite() -> bool {
    let python = Command::new("python3")
        .args(["-c", "import sqlite3"])
        .status();
    if python.is_ok_and(|s| s.success()) {
        return true;
    }
    println!("skipped: needs python3 with its sqlite3 module to write the fixture database");
    false
}

#[test]
fn packages_from_a_real_sqlite_file() {
    if !has_python_sqlite() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let blobs = dir.path().join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    write(
        &root,
        "etc/os-release",
        "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n",
    );
    let mut expected = Vec::new();
    for i in 0..300u32 {
        let name = format!("pkg{i:03}");
        let version = format!("1.{i}");
        // Descriptions of 1 to 12 KiB: most rows spill into overflow pages.
        let description = "x".repeat(1024 * (1 + (i as usize % 12)));
        let mut entries = vec![
            (1000, 6, string(&name)),
            (1001, 6, string(&version)),
            (1002, 6, string("3.el9")),
            (1005, 6, string(&description)),
            (1022, 6, string("x86_64")),
            (1044, 6, string(&format!("{name}-{version}-3.el9.src.rpm"))),
        ];
        if i % 7 == 0 {
            entries.push((1003, 4, 2u32.to_be_bytes().to_vec()));
        }
        std::fs::write(blobs.join(format!("{name}.blob")), rpm_header(&entries)).unwrap();
        let epoch = if i % 7 == 0 { "2:" } else { "" };
        expected.push(format!(
            "{name} {epoch}{version}-3.el9 x86_64 Rocky Linux:9"
        ));
    }
    std::fs::write(
        blobs.join("zz-gpg.blob"),
        rpm_header(&[
            (1000, 6, string("gpg-pubkey")),
            (1001, 6, string("fd431d51")),
            (1002, 6, string("4ae0493b")),
        ]),
    )
    .unwrap();
    std::fs::write(blobs.join("zz-broken.blob"), [0u8, 0, 0, 9, 0, 0, 0, 1]).unwrap();
    let db = root.join("var/lib/rpm/rpmdb.sqlite");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let status = Command::new("python3")
        .args(["-c", CREATE, db.to_str().unwrap(), blobs.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        std::fs::metadata(&db).unwrap().len() > 300 * 4096,
        "the fixture must span many pages"
    );

    let report = scan(
        Path::new(&root),
        &ScanOptions {
            collectors: vec![Collector::OsPackages],
        },
    );
    let got: Vec<String> = report
        .packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {}",
                p.name,
                p.version,
                p.arch.as_deref().unwrap_or(""),
                p.ecosystem
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        report.packages[7].purl,
        "pkg:rpm/rocky/pkg007@1.7-3.el9?arch=x86_64&distro=rocky-9.3&epoch=2"
    );
    assert_eq!(
        report.packages[0].source.as_ref().map(|s| s.name.as_str()),
        Some("pkg000")
    );
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        ["var/lib/rpm/rpmdb.sqlite: field `Packages row 301`: header truncated"]
    );
}

#[test]
fn corrupt_database_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend_from_slice(&[0x10, 0x00]);
    bytes.resize(8192, 0xee);
    write(dir.path(), "var/lib/rpm/rpmdb.sqlite", &bytes);
    write(dir.path(), "var/lib/rpm/Packages", b"\0\0\0\0");
    let report = scan(
        dir.path(),
        &ScanOptions {
            collectors: vec![Collector::OsPackages],
        },
    );
    assert!(report.packages.is_empty());
    let paths: Vec<&str> = report.errors.iter().map(|e| e.path.as_str()).collect();
    // One database per root: the SQLite one wins over a leftover Berkeley DB file.
    assert_eq!(paths, ["var/lib/rpm/rpmdb.sqlite"]);
}

/// Flipped bytes anywhere in a real database (page headers, cell pointers, overflow links)
/// give errors or fewer packages, never a panic or an endless loop.
#[test]
fn corrupted_real_database_never_panics() {
    if !has_python_sqlite() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    for i in 0..40u32 {
        let blob = rpm_header(&[
            (1000, 6, string(&format!("p{i}"))),
            (1001, 6, string("1")),
            (1005, 6, string(&"d".repeat(5000))),
        ]);
        std::fs::write(blobs.join(format!("{i:02}")), blob).unwrap();
    }
    let clean = dir.path().join("clean.sqlite");
    let status = Command::new("python3")
        .args([
            "-c",
            CREATE,
            clean.to_str().unwrap(),
            blobs.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let original = std::fs::read(&clean).unwrap();
    let root = dir.path().join("root");
    let db = root.join("var/lib/rpm/rpmdb.sqlite");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..300 {
        let mut bytes = original.clone();
        for _ in 0..1 + next() % 8 {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = next() as u8;
        }
        std::fs::write(&db, &bytes).unwrap();
        let report = scan(
            &root,
            &ScanOptions {
                collectors: vec![Collector::OsPackages],
            },
        );
        assert!(report.packages.len() <= 40);
    }
}

/// `tests/data/rpm/rpmdb.sqlite` was written by rpm itself; see the README beside it.
#[test]
fn real_rpm_written_database_matches_rpm_qa() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rpm");
    let expected_tsv = std::fs::read_to_string(data.join("rpm-qa.tsv")).unwrap();
    if Command::new("rpm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let live = Command::new("rpm")
            .args([
                "-qa",
                "--dbpath",
                data.to_str().unwrap(),
                "--qf",
                "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n",
            ])
            .output()
            .unwrap();
        let mut lines: Vec<&str> = std::str::from_utf8(&live.stdout).unwrap().lines().collect();
        lines.sort();
        assert_eq!(
            lines,
            expected_tsv.lines().collect::<Vec<_>>(),
            "rpm's own view of the fixture changed"
        );
    } else {
        println!("rpm not installed: comparing with the recorded rpm-qa.tsv only");
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "etc/os-release",
        "ID=\"rocky\"\nVERSION_ID=\"9.3\"\n",
    );
    write(
        dir.path(),
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
        std::fs::read(data.join("rpmdb.sqlite")).unwrap(),
    );
    // The dist-info directory python3-ztpy installed, and one pip installed next to it.
    let site = "usr/lib/python3.9/site-packages";
    write(
        dir.path(),
        &format!("{site}/ztpy-1.0.dist-info/METADATA"),
        "Name: ztpy\nVersion: 1.0\n",
    );
    write(
        dir.path(),
        &format!("{site}/requests-2.31.0.dist-info/METADATA"),
        "Name: requests\nVersion: 2.31.0\n",
    );
    let report = scan(
        dir.path(),
        &ScanOptions {
            collectors: vec![Collector::OsPackages, Collector::Python],
        },
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let pip: Vec<&str> = report
        .packages
        .iter()
        .filter(|p| p.manager == Manager::Pip)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(pip, ["requests"], "rpm's file list owns ztpy");
    let rpm: Vec<_> = report
        .packages
        .iter()
        .filter(|p| p.manager == Manager::Rpm)
        .cloned()
        .collect();
    assert_eq!(
        support::rpm_qa_rows(&rpm),
        expected_tsv.lines().collect::<Vec<_>>()
    );
    assert!(rpm.iter().all(|p| p.ecosystem.as_str() == "Rocky Linux:9"));
}
