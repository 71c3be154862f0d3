//! The knowledge base: every advisory, the KEV and EPSS tables, and the index built over them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::advisory::{Advisory, Source};
use crate::import::epss::{EpssScore, pack_cve};
use crate::import::kev::KevEntry;
use crate::import::{self, Batch, Format, ImportError, RecordError};
use crate::index::{Index, Vulnerability};
use crate::matcher::Matcher;
use crate::names;
use crate::store_file::{self, StoreError};

/// An advisory's identity: the same id from two feeds is two advisories.
pub type AdvisoryKey = (Source, String);

/// The key the pipeline caches match results under (release excluded: a change re-matches every
/// release of the package).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageKey {
    /// [`names::ecosystem_key`] of the ecosystem (`pypi`, `debian`, ...).
    pub ecosystem: String,
    /// [`names::normalize_name`] of the package (the source package for distributions).
    pub name: String,
}

/// What one import changed, so the pipeline re-matches only what moved.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ChangeSet {
    pub added: Vec<AdvisoryKey>,
    pub updated: Vec<AdvisoryKey>,
    /// Advisories that became withdrawn or rejected with this import.
    pub withdrawn: Vec<AdvisoryKey>,
    /// Records identical to (or older than) what was already there.
    pub unchanged: usize,
    /// Package keys whose match results may differ now (from old and new affected entries).
    pub packages: BTreeSet<PackageKey>,
    /// CPE `vendor:product` names whose match results may differ now (NVD changes).
    pub cpe_products: BTreeSet<String>,
    /// KEV / EPSS tables replaced: severities and priorities moved, matches did not.
    pub kev_replaced: bool,
    pub epss_replaced: bool,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.updated.is_empty()
            && self.withdrawn.is_empty()
            && !self.kev_replaced
            && !self.epss_replaced
    }
}

/// One file's outcome.
#[derive(Debug)]
pub struct FileReport {
    pub path: PathBuf,
    pub format: Option<Format>,
    pub records: usize,
    /// Records skipped or fields ignored, each naming file, record and field.
    pub problems: Vec<RecordError>,
    /// Set when the file could not be read (other files still load).
    pub failure: Option<ImportError>,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    pub files: Vec<FileReport>,
    pub changes: ChangeSet,
}

impl ImportReport {
    pub fn records(&self) -> usize {
        self.files.iter().map(|f| f.records).sum()
    }

    /// Records dropped as malformed.
    pub fn skipped(&self) -> usize {
        self.files
            .iter()
            .flat_map(|f| &f.problems)
            .filter(|p| p.skipped)
            .count()
    }

    /// Fields ignored in records that were kept.
    pub fn warnings(&self) -> usize {
        self.files
            .iter()
            .flat_map(|f| &f.problems)
            .filter(|p| !p.skipped)
            .count()
    }
}

/// Progress of an import, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct ImportProgress<'a> {
    pub path: &'a Path,
    /// Index of the file among those found, and how many were found.
    pub file: usize,
    pub files: usize,
    /// Records read so far from this file.
    pub records: usize,
}

/// Counts for `vulndb status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub advisories: BTreeMap<Source, usize>,
    pub retracted: usize,
    pub vulnerabilities: usize,
    pub packages: usize,
    pub cpe_products: usize,
    pub kev: usize,
    pub epss: usize,
    pub debian_cpe: usize,
}

/// All advisories and side tables, with the index over them.
#[derive(Debug, Default)]
pub struct KnowledgeBase {
    /// In import order; replaced in place on update so indices stay stable.
    pub(crate) advisories: Vec<Advisory>,
    pub(crate) by_key: HashMap<AdvisoryKey, usize>,
    pub(crate) kev: BTreeMap<String, KevEntry>,
    /// Sorted by packed CVE.
    pub(crate) epss: Vec<EpssScore>,
    pub(crate) debian_cpe: BTreeMap<String, Vec<String>>,
    pub(crate) cpe_aliases: Vec<Vec<String>>,
    pub(crate) index: Index,
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>, failures: &mut Vec<FileReport>) {
    if path.is_dir() {
        match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut children: Vec<PathBuf> =
                    entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                children.sort();
                for child in children {
                    let hidden = child
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'));
                    if !hidden {
                        collect_files(&child, out, failures);
                    }
                }
            }
            Err(source) => failures.push(FileReport {
                path: path.to_owned(),
                format: None,
                records: 0,
                problems: Vec::new(),
                failure: Some(ImportError::Io {
                    path: path.to_owned(),
                    source,
                }),
            }),
        }
    } else {
        out.push(path.to_owned());
    }
}

/// Files that sit beside feeds but are not feeds (documentation, manifests, schemas).
fn is_companion(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    name.ends_with(".md")
        || name.ends_with(".tsv")
        || name.ends_with(".txt")
        || name.ends_with("_schema.json")
}

impl KnowledgeBase {
    pub fn new() -> Self {
        Self::default()
    }

    /// Imports files and directories (recursively). Unrecognized files inside directories are
    /// skipped silently when they are documentation/manifests, reported otherwise.
    pub fn import_paths<P: AsRef<Path>>(
        &mut self,
        paths: &[P],
        progress: &mut dyn FnMut(ImportProgress<'_>),
    ) -> ImportReport {
        let mut report = ImportReport::default();
        let mut files = Vec::new();
        for p in paths {
            let p = p.as_ref();
            if p.is_dir() {
                let mut found = Vec::new();
                collect_files(p, &mut found, &mut report.files);
                files.extend(found.into_iter().filter(|f| !is_companion(f)));
            } else {
                files.push(p.to_owned());
            }
        }
        let total = files.len();
        for (i, path) in files.iter().enumerate() {
            let mut on_records = |p: &Path, records: usize| {
                progress(ImportProgress {
                    path: p,
                    file: i,
                    files: total,
                    records,
                })
            };
            let outcome = import::detect(path).and_then(|format| {
                import::import_file(path, format, &mut on_records).map(|b| (format, b))
            });
            match outcome {
                Ok((format, batch)) => {
                    let records = batch.records();
                    let problems = self.apply(batch, &mut report.changes);
                    report.files.push(FileReport {
                        path: path.clone(),
                        format: Some(format),
                        records,
                        problems,
                        failure: None,
                    });
                }
                Err(e) => report.files.push(FileReport {
                    path: path.clone(),
                    format: None,
                    records: 0,
                    problems: Vec::new(),
                    failure: Some(e),
                }),
            }
        }
        self.rebuild_index();
        report
    }

    /// Merges one file's batch; returns its record errors.
    fn apply(&mut self, batch: Batch, changes: &mut ChangeSet) -> Vec<RecordError> {
        let Batch {
            advisories,
            kev,
            epss,
            debian_cpe,
            cpe_aliases,
            errors,
            replaces_kev,
            replaces_epss,
        } = batch;
        for adv in advisories {
            self.upsert(adv, changes);
        }
        if replaces_kev {
            self.kev = kev.into_iter().map(|k| (k.cve.clone(), k)).collect();
            changes.kev_replaced = true;
        }
        if replaces_epss {
            let mut epss = epss;
            epss.sort_by_key(|e| e.cve);
            epss.dedup_by_key(|e| e.cve);
            self.epss = epss;
            changes.epss_replaced = true;
        }
        if !debian_cpe.is_empty() {
            self.debian_cpe.clear();
            for (pkg, cpe) in debian_cpe {
                self.debian_cpe.entry(pkg).or_default().push(cpe);
            }
        }
        if !cpe_aliases.is_empty() {
            self.cpe_aliases = cpe_aliases;
        }
        errors
    }

    fn upsert(&mut self, adv: Advisory, changes: &mut ChangeSet) {
        let key = (adv.source, adv.id.clone());
        let existing = self.by_key.get(&key).copied();
        match existing.and_then(|i| self.advisories.get(i)) {
            Some(old) if *old == adv => changes.unchanged += 1,
            // Keep the newer record when a feed file is older than what is loaded.
            Some(old) if matches!((&old.modified, &adv.modified), (Some(o), Some(n)) if n < o) => {
                changes.unchanged += 1
            }
            Some(old) => {
                touched(old, changes);
                touched(&adv, changes);
                if adv.is_retracted() && !old.is_retracted() {
                    changes.withdrawn.push(key.clone());
                } else {
                    changes.updated.push(key.clone());
                }
                if let Some(slot) = existing.and_then(|i| self.advisories.get_mut(i)) {
                    *slot = adv;
                }
            }
            None => {
                touched(&adv, changes);
                changes.added.push(key.clone());
                self.by_key.insert(key, self.advisories.len());
                self.advisories.push(adv);
            }
        }
    }

    pub(crate) fn rebuild_index(&mut self) {
        self.index = Index::build(&self.advisories, &self.kev, &self.epss, &self.cpe_aliases);
    }

    /// Writes the knowledge base to `path` (atomically: a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        store_file::save(self, path)
    }

    /// Reads a knowledge base written by [`save`](Self::save) and builds its index.
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let mut kb = store_file::load(path)?;
        kb.rebuild_index();
        Ok(kb)
    }

    /// The store format in memory (for keeping the knowledge base somewhere other than a file).
    pub fn to_bytes(&self) -> Result<Vec<u8>, StoreError> {
        store_file::encode(self, Path::new("<memory>"))
    }

    /// Reads [`to_bytes`](Self::to_bytes) output; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<Self, StoreError> {
        let mut kb = store_file::decode(bytes, origin)?;
        kb.rebuild_index();
        Ok(kb)
    }

    pub fn status(&self) -> Status {
        let mut advisories = BTreeMap::new();
        for adv in &self.advisories {
            *advisories.entry(adv.source).or_insert(0) += 1;
        }
        Status {
            advisories,
            retracted: self.advisories.iter().filter(|a| a.is_retracted()).count(),
            vulnerabilities: self.index.vulnerabilities.len(),
            packages: self.index.package_count(),
            cpe_products: self.index.cpe_product_count(),
            kev: self.kev.len(),
            epss: self.epss.len(),
            debian_cpe: self.debian_cpe.len(),
        }
    }

    /// The vulnerability an id or alias names (`CVE-…`, `GHSA-…`, `DSA-…`), with every source's view.
    pub fn show(&self, id_or_alias: &str) -> Option<VulnerabilityView<'_>> {
        let group = self.index.group_of(id_or_alias.trim())?;
        let vuln = self.index.vulnerabilities.get(group as usize)?;
        let advisories = vuln
            .members
            .iter()
            .filter_map(|&m| self.index.advisory(self, m))
            .collect();
        Some(VulnerabilityView {
            vulnerability: vuln,
            advisories,
            kev: self.kev_entry(&vuln.id),
            epss: self.epss(&vuln.id),
        })
    }

    pub fn advisory(&self, source: Source, id: &str) -> Option<&Advisory> {
        self.by_key
            .get(&(source, id.to_owned()))
            .and_then(|&i| self.advisories.get(i))
    }

    pub fn advisories(&self) -> impl Iterator<Item = &Advisory> {
        self.advisories.iter()
    }

    pub fn kev_entry(&self, cve: &str) -> Option<&KevEntry> {
        self.kev.get(cve)
    }

    pub fn epss(&self, cve: &str) -> Option<EpssScore> {
        let key = pack_cve(cve)?;
        self.epss
            .binary_search_by_key(&key, |e| e.cve)
            .ok()
            .and_then(|i| self.epss.get(i).copied())
    }

    /// The CPE `vendor:product` names Debian's tracker gives a source package.
    pub fn debian_cpe(&self, source_package: &str) -> &[String] {
        self.debian_cpe
            .get(source_package)
            .map_or(&[], Vec::as_slice)
    }

    pub fn matcher(&self) -> Matcher<'_> {
        Matcher::new(self)
    }

    /// What differs from `older` (an earlier load of the knowledge base), as an import would
    /// have reported it: for a server that reloads a file another process rewrote.
    pub fn changes_since(&self, older: &KnowledgeBase) -> ChangeSet {
        let mut changes = ChangeSet::default();
        for adv in &self.advisories {
            let key = (adv.source, adv.id.clone());
            match older.advisory(adv.source, &adv.id) {
                Some(old) if old == adv => changes.unchanged += 1,
                Some(old) => {
                    touched(old, &mut changes);
                    touched(adv, &mut changes);
                    if adv.is_retracted() && !old.is_retracted() {
                        changes.withdrawn.push(key);
                    } else {
                        changes.updated.push(key);
                    }
                }
                None => {
                    touched(adv, &mut changes);
                    changes.added.push(key);
                }
            }
        }
        for old in &older.advisories {
            if self.advisory(old.source, &old.id).is_none() {
                touched(old, &mut changes);
                changes.withdrawn.push((old.source, old.id.clone()));
            }
        }
        changes.kev_replaced = self.kev != older.kev;
        changes.epss_replaced = self.epss != older.epss;
        changes
    }
}

fn touched(adv: &Advisory, changes: &mut ChangeSet) {
    for aff in &adv.affected {
        let (base, _) = names::split_ecosystem(&aff.ecosystem);
        let ecosystem = names::ecosystem_key(base);
        let name = names::normalize_name(&ecosystem, &aff.package);
        changes.packages.insert(PackageKey { ecosystem, name });
    }
    for cfg in &adv.configurations {
        changes.cpe_products.extend(cfg.vulnerable_products());
    }
}

/// `show`'s answer: the grouped vulnerability and each source's advisory.
#[derive(Debug)]
pub struct VulnerabilityView<'a> {
    pub vulnerability: &'a Vulnerability,
    pub advisories: Vec<&'a Advisory>,
    pub kev: Option<&'a KevEntry>,
    pub epss: Option<EpssScore>,
}
