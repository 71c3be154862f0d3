//! The knowledge base as the pipeline sees it: the loaded file, swapped whole when it changes,
//! and a cache of match results per distinct package version (DESIGN.md: match distinct keys,
//! not records). A reload invalidates only the cache entries of the packages whose advisories
//! changed and reports those packages so the re-matcher visits only the assets holding them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use foldhash::{HashMap, HashMapExt};
use zerotrace_store::findings::Severity;
use zerotrace_store::lifecycle::DesiredFinding;
use zerotrace_store::snapshots::{SnapshotPackage, merge_versions};
use zerotrace_vulndb::cvss::SeverityLevel;
use zerotrace_vulndb::{ChangeSet, KnowledgeBase, Matcher, PackageKey, PackageQuery};

/// One vulnerability that applies to one package version: what a finding records.
#[derive(Clone, Debug, PartialEq)]
struct MatchFact {
    vulnerability_id: String,
    fixed_version: Option<String>,
    severity: Severity,
    cvss_score: Option<f64>,
    known_exploited: bool,
    epss_score: Option<f64>,
    confidence: &'static str,
    reason: String,
}

/// A package version as far as matching can tell two apart.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CacheKey {
    ecosystem: String,
    name: String,
    version: String,
    source_name: Option<String>,
    source_version: Option<String>,
    /// The knowledge base's key, for invalidating by changed package.
    match_ecosystem: String,
    match_name: String,
}

impl CacheKey {
    fn of(package: &SnapshotPackage) -> Self {
        CacheKey {
            ecosystem: package.ecosystem.clone(),
            name: package.name.clone(),
            version: package.version.clone(),
            source_name: package.source_name.clone(),
            source_version: package.source_version.clone(),
            match_ecosystem: package.match_ecosystem.clone(),
            match_name: package.match_name.clone(),
        }
    }

    fn query(&self) -> PackageQuery {
        let query = PackageQuery::new(&self.ecosystem, &self.name, &self.version);
        match &self.source_name {
            Some(source) => query.with_source(source, self.source_version.as_deref()),
            None => query,
        }
    }
}

/// What matching reads of a package, borrowed: a batch's lookups by it need no allocation.
/// (`match_ecosystem`/`match_name` follow from these fields.)
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct LookupKey<'a> {
    ecosystem: &'a str,
    name: &'a str,
    version: &'a str,
    source_name: Option<&'a str>,
    source_version: Option<&'a str>,
}

impl<'a> LookupKey<'a> {
    fn of(package: &'a SnapshotPackage) -> Self {
        LookupKey {
            ecosystem: &package.ecosystem,
            name: &package.name,
            version: &package.version,
            source_name: package.source_name.as_deref(),
            source_version: package.source_version.as_deref(),
        }
    }
}

/// What changed when the knowledge base was reloaded.
#[derive(Debug, Default)]
pub struct Reload {
    /// `(ecosystem, normalized name)` of every package whose advisories changed.
    pub packages: Vec<(String, String)>,
    /// KEV or EPSS data changed: every finding's flags may have moved.
    pub enrichment_changed: bool,
    pub added: usize,
    pub updated: usize,
    pub withdrawn: usize,
}

impl Reload {
    fn from_changes(changes: ChangeSet) -> Self {
        Reload {
            packages: changes
                .packages
                .into_iter()
                .map(|PackageKey { ecosystem, name }| (ecosystem, name))
                .collect(),
            enrichment_changed: changes.kev_replaced || changes.epss_replaced,
            added: changes.added.len(),
            updated: changes.updated.len(),
            withdrawn: changes.withdrawn.len(),
        }
    }
}

/// Why the knowledge base could not be (re)loaded.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error(transparent)]
    Load(#[from] zerotrace_vulndb::StoreError),
    #[error("cannot read {path}: {source}")]
    Metadata {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("loading panicked: {0}")]
    Panicked(String),
}

pub struct Knowledge {
    path: Option<PathBuf>,
    current: RwLock<Option<Arc<KnowledgeBase>>>,
    loaded_modified: Mutex<Option<SystemTime>>,
    cache: moka::sync::Cache<CacheKey, Arc<[MatchFact]>, foldhash::fast::RandomState>,
}

/// Distinct package versions whose results are kept (a few hundred bytes each).
const CACHE_CAPACITY: u64 = 1_000_000;

impl Knowledge {
    /// A knowledge base read from `path` (the file `zerotrace vulndb import` writes), or none.
    /// A missing file is not an error: the server runs and matches nothing until one appears.
    pub fn open(path: Option<PathBuf>) -> Result<Knowledge, KnowledgeError> {
        let knowledge = Knowledge {
            path,
            current: RwLock::new(None),
            loaded_modified: Mutex::new(None),
            cache: moka::sync::Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .support_invalidation_closures()
                .build_with_hasher(foldhash::fast::RandomState::default()),
        };
        knowledge.reload_if_changed()?;
        Ok(knowledge)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn is_loaded(&self) -> bool {
        self.snapshot().is_some()
    }

    fn snapshot(&self) -> Option<Arc<KnowledgeBase>> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The loaded knowledge base, for views (`show`).
    pub fn loaded(&self) -> Option<Arc<KnowledgeBase>> {
        self.snapshot()
    }

    /// Loads the file again if it changed since the last load (blocking: call off the runtime).
    /// Returns what changed, or `None` when nothing did.
    pub fn reload_if_changed(&self) -> Result<Option<Reload>, KnowledgeError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let modified = match std::fs::metadata(path) {
            Ok(metadata) => metadata.modified().ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(KnowledgeError::Metadata {
                    path: path.clone(),
                    source,
                });
            }
        };
        let mut loaded_modified = self
            .loaded_modified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if modified.is_some() && *loaded_modified == modified {
            return Ok(None);
        }
        let fresh = KnowledgeBase::load(path)?;
        *loaded_modified = modified;
        Ok(Some(self.install(fresh)))
    }

    /// Swaps in `fresh` and invalidates the cache entries its changes touch.
    pub fn install(&self, fresh: KnowledgeBase) -> Reload {
        let older = self.snapshot();
        let reload = match &older {
            Some(older) => Reload::from_changes(fresh.changes_since(older)),
            None => Reload::default(),
        };
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(fresh));
        if older.is_some() && reload.enrichment_changed {
            self.cache.invalidate_all();
        } else if !reload.packages.is_empty() {
            let changed: BTreeSet<(String, String)> = reload.packages.iter().cloned().collect();
            // Only fails when closures are not enabled on the builder, which both constructors do.
            let _ = self.cache.invalidate_entries_if(move |key, _| {
                changed.contains(&(key.match_ecosystem.clone(), key.match_name.clone()))
            });
        }
        reload
    }

    /// The findings the knowledge base gives these packages (one per vulnerability and package
    /// name). CPU-bound on cache misses: call from a blocking context for large batches.
    pub fn desired_findings(&self, packages: &[SnapshotPackage]) -> Vec<DesiredFinding> {
        self.desired_findings_of_batch([packages])
            .pop()
            .unwrap_or_default()
    }

    /// [`Self::desired_findings`] of each inventory of a batch. A package version repeated
    /// across the batch (hosts of one fleet share most of their software) is looked up once.
    pub fn desired_findings_of_batch<'a>(
        &self,
        batch: impl IntoIterator<Item = &'a [SnapshotPackage]>,
    ) -> Vec<Vec<DesiredFinding>> {
        let Some(kb) = self.snapshot() else {
            return batch.into_iter().map(|_| Vec::new()).collect();
        };
        let matcher = kb.matcher();
        let mut looked_up: HashMap<LookupKey<'a>, Arc<[MatchFact]>> = HashMap::new();
        batch
            .into_iter()
            .map(|packages| {
                let mut desired = Vec::new();
                for package in packages {
                    let facts = looked_up
                        .entry(LookupKey::of(package))
                        .or_insert_with(|| self.facts(&matcher, package));
                    desired.extend(facts.iter().map(|fact| DesiredFinding {
                        vulnerability_id: fact.vulnerability_id.clone(),
                        ecosystem: package.ecosystem.clone(),
                        package_name: package.name.clone(),
                        package_version: package.version.clone(),
                        fixed_version: fact.fixed_version.clone(),
                        severity: fact.severity,
                        cvss_score: fact.cvss_score,
                        known_exploited: fact.known_exploited,
                        epss_score: fact.epss_score,
                        confidence: fact.confidence.to_owned(),
                        reason: fact.reason.clone(),
                    }));
                }
                merge_versions(desired)
            })
            .collect()
    }

    /// The vulnerabilities of one package version, from the cache or the matcher.
    fn facts(&self, matcher: &Matcher<'_>, package: &SnapshotPackage) -> Arc<[MatchFact]> {
        let key = CacheKey::of(package);
        if let Some(facts) = self.cache.get(&key) {
            return facts;
        }
        let facts: Arc<[MatchFact]> = matcher
            .match_package(&key.query())
            .into_iter()
            .filter(|m| m.is_vulnerable())
            .map(|m| MatchFact {
                vulnerability_id: m.vulnerability.to_string(),
                fixed_version: m.fixed.first().cloned(),
                severity: severity(m.severity),
                cvss_score: m.cvss_score,
                known_exploited: m.kev,
                epss_score: m.epss.map(f64::from),
                confidence: m.confidence.as_str(),
                reason: m.reason.to_string(),
            })
            .collect();
        self.cache.insert(key, facts.clone());
        facts
    }
}

fn severity(level: Option<SeverityLevel>) -> Severity {
    match level {
        Some(SeverityLevel::Critical) => Severity::Critical,
        Some(SeverityLevel::High) => Severity::High,
        Some(SeverityLevel::Medium) => Severity::Medium,
        Some(SeverityLevel::Low) => Severity::Low,
        Some(SeverityLevel::None) => Severity::None,
        None => Severity::Unknown,
    }
}
