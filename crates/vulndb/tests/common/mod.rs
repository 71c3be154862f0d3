//! Shared fixtures: the real feed files under `shared/data/vuln`, imported once per test binary.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use zerotrace_vulndb::{ImportReport, KnowledgeBase};

pub fn data_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/vuln"
    ));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: {} is absent (the shared data set is not checked out beside the repo)",
            dir.display()
        );
        None
    }
}

pub struct Loaded {
    pub kb: KnowledgeBase,
    pub report: ImportReport,
}

/// Everything in `shared/data/vuln`, imported once.
pub fn all() -> Option<&'static Loaded> {
    static ALL: OnceLock<Option<Loaded>> = OnceLock::new();
    ALL.get_or_init(|| {
        let dir = data_dir()?;
        let mut kb = KnowledgeBase::new();
        let report = kb.import_paths(&[dir], &mut |_| {});
        Some(Loaded { kb, report })
    })
    .as_ref()
}
