//! rpm databases written by real distributions (SQLite, NDB, Berkeley DB), when a directory of
//! them is given in `ZEROTRACE_RPMDB_TESTDATA`: one subdirectory per database holding the
//! database file (`rpmdb.sqlite`, `Packages.db` or `Packages`) and `expected.tsv`, rpm's view
//! of it (`rpm -qa --qf '%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\n'`,
//! sorted, signing keys left out). go-rpmdb's `pkg/testdata` has such databases from CentOS,
//! SLE and CBL-Mariner; they are not copied into this repository.

mod support;

use std::path::PathBuf;

use zerotrace_inventory::scan::{Collector, ScanOptions, scan};

#[test]
fn real_distribution_databases() {
    let Some(dir) = std::env::var_os("ZEROTRACE_RPMDB_TESTDATA").map(PathBuf::from) else {
        println!("skipped: ZEROTRACE_RPMDB_TESTDATA not set");
        return;
    };
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let case = entry.unwrap().path();
        let Ok(expected) = std::fs::read_to_string(case.join("expected.tsv")) else {
            continue;
        };
        let (file, target) = [
            ("rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"),
            ("Packages.db", "usr/lib/sysimage/rpm/Packages.db"),
            ("Packages", "var/lib/rpm/Packages"),
        ]
        .into_iter()
        .find(|(f, _)| case.join(f).is_file())
        .unwrap();
        let root = tempfile::tempdir().unwrap();
        support::write(root.path(), target, std::fs::read(case.join(file)).unwrap());
        let report = scan(
            root.path(),
            &ScanOptions {
                collectors: vec![Collector::OsPackages],
            },
        );
        assert!(
            report.errors.is_empty(),
            "{}: {:?}",
            case.display(),
            report.errors
        );
        assert_eq!(
            support::rpm_qa_rows(&report.packages),
            expected.lines().collect::<Vec<_>>(),
            "{}",
            case.display()
        );
        println!(
            "{}: {} packages agree",
            case.display(),
            report.packages.len()
        );
        // The same real database with bytes flipped: errors or fewer packages, never a panic.
        let original = std::fs::read(case.join(file)).unwrap();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100 {
            let mut bytes = original.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % bytes.len() as u64) as usize;
                bytes[at] = (state >> 32) as u8;
            }
            support::write(root.path(), target, &bytes);
            let damaged = scan(
                root.path(),
                &ScanOptions {
                    collectors: vec![Collector::OsPackages],
                },
            );
            assert!(damaged.packages.len() <= report.packages.len() + 1);
        }
        checked += 1;
    }
    assert!(checked > 0, "no cases in {}", dir.display());
}
