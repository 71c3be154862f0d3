//! The one place where the matching rule lives: package -> vulnerabilities.
//!
//! Authority: for OS packages (Debian, Ubuntu, Alpine, ...) only the distribution's own
//! advisories decide, by source package and release, so backported fixes count. For language
//! packages the ecosystem's advisories (OSV/GHSA, RubySec, Node.js WG) decide. NVD's CPE
//! configurations are consulted only for software no such feed covers: applications without an
//! ecosystem (through `cpe_products.tsv` or a CPE the inventory supplies) and ecosystem packages
//! whose name no feed lists, when the query carries a CPE.
//!
//! One vulnerability known under several ids is one [`Match`]; withdrawn and rejected advisories
//! never match. The matcher is pure and takes `(ecosystem, name, version)` keys, so the pipeline
//! matches each distinct key once and caches the result.

use std::sync::Arc;

use crate::advisory::{AffectedStatus, RangeEvent, RangeKind, Source};
use crate::cpe::Cpe;
use crate::cvss::SeverityLevel;
use crate::desktop::{self, Platform};
use crate::index::Entry;
use crate::kb::{KnowledgeBase, PackageKey};
use crate::names;
use crate::ranges::{self, RangeVerdict};

/// One installed package (or application) to match.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PackageQuery {
    /// OSV ecosystem, with the distribution release for OS packages (`Debian:11`, `Alpine:v3.19`,
    /// `PyPI`). `None` for applications without one.
    pub ecosystem: Option<String>,
    /// Package name, or an application's display name.
    pub name: String,
    pub version: String,
    /// The source package (Debian `Source:`, Alpine origin `o:`) and its version when it differs.
    pub source_name: Option<String>,
    pub source_version: Option<String>,
    /// A package URL; fills in ecosystem, name and version when those are absent.
    pub purl: Option<String>,
    /// A CPE 2.3 name supplied by the inventory.
    pub cpe: Option<String>,
    pub platform: Option<Platform>,
}

impl PackageQuery {
    pub fn new(ecosystem: &str, name: &str, version: &str) -> Self {
        Self {
            ecosystem: Some(ecosystem.to_owned()),
            name: name.to_owned(),
            version: version.to_owned(),
            ..Self::default()
        }
    }

    /// An installed application without an ecosystem ("Mozilla Firefox (x64 en-US)", "121.0").
    pub fn application(display_name: &str, version: &str, platform: Option<Platform>) -> Self {
        Self {
            name: display_name.to_owned(),
            version: version.to_owned(),
            platform,
            ..Self::default()
        }
    }

    pub fn with_source(mut self, name: &str, version: Option<&str>) -> Self {
        self.source_name = Some(name.to_owned());
        self.source_version = version.map(str::to_owned);
        self
    }

    /// The cache key this query's results depend on (what a [`ChangeSet`](crate::ChangeSet) names).
    pub fn package_key(&self) -> Option<PackageKey> {
        let resolved = resolve(self)?;
        Some(PackageKey {
            ecosystem: resolved.eco,
            name: resolved.name,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchStatus {
    /// Affected: the installed version is in a vulnerable range.
    Affected,
    /// The distribution will not fix it in this release (end of life, no-dsa, ignored).
    WillNotFix,
    /// The distribution states this release is not affected.
    NotAffected,
}

impl MatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchStatus::Affected => "affected",
            MatchStatus::WillNotFix => "will-not-fix",
            MatchStatus::NotAffected => "not-affected",
        }
    }
}

/// How sure the match is, by the kind of evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Confidence {
    /// A distribution advisory for this source package and release.
    DistroExact,
    /// An ecosystem advisory for this package name.
    EcosystemExact,
    /// NVD configuration matched on a CPE the inventory supplied.
    CpeVendorProduct,
    /// NVD configuration matched on a CPE derived from a display name via `cpe_products.tsv`.
    CpeHeuristic,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::DistroExact => "distro-exact",
            Confidence::EcosystemExact => "ecosystem-exact",
            Confidence::CpeVendorProduct => "cpe-vendor-product",
            Confidence::CpeHeuristic => "cpe-heuristic",
        }
    }
}

/// One vulnerability found for one package.
///
/// Strings shared with the knowledge base are `Arc<str>` so a match costs a few reference
/// counts, not copies; the one-line [`Reason`] is rendered only when displayed.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The vulnerability's primary id (a CVE when it has one).
    pub vulnerability: Arc<str>,
    pub aliases: Arc<[Arc<str>]>,
    /// The advisories that matched (evidence), e.g. `["DSA-5380-1"]`, `["GHSA-…", "PYSEC-…"]`.
    pub advisories: Vec<Arc<str>>,
    pub status: MatchStatus,
    /// The range that matched, rendered (`>=0 <1.2.3 (ECOSYSTEM)`, a CPE criteria).
    pub range: Option<Arc<str>>,
    pub fixed: Arc<[String]>,
    /// Why, in one line (`Display`).
    pub reason: Reason,
    pub confidence: Confidence,
    pub severity: Option<SeverityLevel>,
    pub cvss_score: Option<f64>,
    pub kev: bool,
    pub epss: Option<f32>,
}

impl Match {
    pub fn is_vulnerable(&self) -> bool {
        self.status != MatchStatus::NotAffected
    }
}

/// The deciding evidence of a match; `Display` renders the one-line reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// What was matched: `Debian:11 openssl 1.1.1n-0+deb11u3`, `google:chrome 120.0.6099.109`.
    pub subject: Arc<str>,
    /// The advisory that decided.
    pub advisory: Arc<str>,
    pub status: MatchStatus,
    pub range: Option<Arc<str>>,
    pub fixed: Arc<[String]>,
    /// NVD configuration match rather than an advisory range.
    pub cpe: bool,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let range = self.range.as_deref().unwrap_or("the affected versions");
        match (self.status, self.cpe) {
            (MatchStatus::NotAffected, _) => {
                write!(f, "{} says {} is not affected", self.advisory, self.subject)
            }
            (MatchStatus::WillNotFix, _) => {
                write!(
                    f,
                    "{} marks {} as not going to be fixed (e.g. end of life)",
                    self.advisory, self.subject
                )
            }
            (MatchStatus::Affected, true) => {
                write!(
                    f,
                    "{} matches NVD configuration {range} of {}",
                    self.subject, self.advisory
                )
            }
            (MatchStatus::Affected, false) => {
                write!(f, "{} is in {range} of {} (", self.subject, self.advisory)?;
                if self.fixed.is_empty() {
                    f.write_str("no fix available)")
                } else {
                    write!(f, "fixed in {})", self.fixed.join(", "))
                }
            }
        }
    }
}

struct Resolved {
    /// The installed version read once with the ecosystem's ordering (`None` if unreadable).
    parsed: Option<zerotrace_version::Version>,
    eco: String,
    release: Option<String>,
    name: String,
    version: String,
    display_ecosystem: String,
}

/// Ecosystem, release, lookup name and version of a query (purl filling the gaps).
fn resolve(q: &PackageQuery) -> Option<Resolved> {
    let from_purl = q.purl.as_deref().and_then(names::parse_purl);
    let (eco_str, name, version) = match (&q.ecosystem, &from_purl) {
        (Some(e), _) => (e.clone(), q.name.clone(), q.version.clone()),
        (None, Some(p)) => (
            p.ecosystem.clone(),
            if q.name.is_empty() {
                p.name.clone()
            } else {
                q.name.clone()
            },
            if q.version.is_empty() {
                p.version.clone().unwrap_or_default()
            } else {
                q.version.clone()
            },
        ),
        (None, None) => return None,
    };
    let (base, release) = names::split_ecosystem(&eco_str);
    let eco = names::ecosystem_key(base);
    let release = release.map(|r| names::normalize_release(&eco, r));
    let distro = names::is_distro(&eco);
    // Distribution advisories name source packages; a binary package is matched through its source.
    let (lookup, version) = match (&q.source_name, distro) {
        (Some(src), true) if !src.is_empty() => {
            (src.clone(), q.source_version.clone().unwrap_or(version))
        }
        _ => (name, version),
    };
    Some(Resolved {
        name: names::normalize_name(&eco, &lookup),
        parsed: None,
        eco,
        release,
        version,
        display_ecosystem: eco_str,
    })
}

/// Matches packages against a loaded knowledge base. Cheap to create; `&self` only.
pub struct Matcher<'kb> {
    kb: &'kb KnowledgeBase,
    /// Shared by every match without a fix, so those cost no allocation.
    no_fix: Arc<[String]>,
}

/// One hit of one entry (or NVD configuration), shared by every vulnerability it reports.
struct Evidence {
    advisory: Arc<str>,
    reason: Reason,
    confidence: Confidence,
}

/// Hits of one query: evidence, and (vulnerability group, evidence index) pairs. Collected
/// flat and grouped by sorting, so an umbrella notice fixing 15 CVEs costs 15 pairs, not 15
/// copies of its evidence.
#[derive(Default)]
struct Hits {
    evidence: Vec<Evidence>,
    pairs: Vec<(u32, u32)>,
}

impl Hits {
    fn add(&mut self, groups: &[u32], evidence: Evidence) {
        let i = self.evidence.len() as u32;
        self.evidence.push(evidence);
        self.pairs.extend(groups.iter().map(|&g| (g, i)));
    }
}

/// Renders an entry's ranges: one text per OSV range, then one for the versions list or the
/// native requirements.
fn render_ranges(aff: &crate::advisory::Affected) -> Box<[Arc<str>]> {
    let mut out: Vec<Arc<str>> = aff
        .ranges
        .iter()
        .map(|r| {
            let events: Vec<String> = r
                .events
                .iter()
                .map(|e| match e {
                    RangeEvent::Introduced(v) => format!(">={v}"),
                    RangeEvent::Fixed(v) => format!("<{v}"),
                    RangeEvent::LastAffected(v) => format!("<={v}"),
                    RangeEvent::Limit(v) => format!("limit {v}"),
                })
                .collect();
            let kind = match r.kind {
                RangeKind::Semver => "SEMVER",
                RangeKind::Ecosystem => "ECOSYSTEM",
                RangeKind::Git => "GIT",
            };
            Arc::from(format!("{} ({kind})", events.join(" ")))
        })
        .collect();
    let last = match &aff.requirements {
        Some(req) => {
            let mut parts = Vec::new();
            if let Some(v) = &req.vulnerable {
                parts.push(format!("vulnerable {v}"));
            }
            if !req.safe.is_empty() {
                parts.push(format!("safe {}", req.safe.join(" | ")));
            }
            parts.join("; ")
        }
        None => "listed in the advisory's affected versions".to_owned(),
    };
    out.push(Arc::from(last));
    out.into_boxed_slice()
}

impl<'kb> Matcher<'kb> {
    pub(crate) fn new(kb: &'kb KnowledgeBase) -> Self {
        Self {
            kb,
            no_fix: Arc::from([]),
        }
    }

    /// Every vulnerability that applies to the package, one [`Match`] per vulnerability, sorted by id.
    pub fn match_package(&self, q: &PackageQuery) -> Vec<Match> {
        let mut hits = Hits::default();
        let mut covered = false;
        let resolved = resolve(q);
        if let Some(mut r) = resolved {
            r.parsed = zerotrace_version::Version::parse(
                &zerotrace_version::Ecosystem::parse(&r.display_ecosystem),
                &r.version,
            )
            .ok();
            let distro = names::is_distro(&r.eco);
            if let Some((unreleased, released)) =
                self.kb.index.entries(&r.eco, &r.name, r.release.as_deref())
            {
                covered = true;
                let mut subject: Option<Arc<str>> = None;
                for entry in unreleased.iter().chain(released) {
                    self.evaluate_entry(entry, &r, distro, &mut subject, &mut hits);
                }
            }
            // Distro packages are judged by the distro alone, even when it lists nothing.
            covered |= distro;
            if !covered {
                self.match_cpe(q, false, &mut hits);
            }
        } else {
            self.match_cpe(q, true, &mut hits);
        }
        self.collect(hits)
    }

    /// One [`Match`] per vulnerability: the strongest status decides (affected > will-not-fix >
    /// not-affected); the advisories of all its evidence and the fixes of the deciding status are
    /// pooled.
    fn collect(&self, mut hits: Hits) -> Vec<Match> {
        hits.pairs.sort_unstable();
        let mut out = Vec::new();
        for run in hits.pairs.chunk_by(|a, b| a.0 == b.0) {
            let Some(&(g, _)) = run.first() else { continue };
            let Some(v) = self.kb.index.vulnerabilities.get(g as usize) else {
                continue;
            };
            let evidence = || {
                run.iter()
                    .filter_map(|&(_, e)| hits.evidence.get(e as usize))
            };
            let Some(best) = evidence().min_by_key(|e| e.reason.status) else {
                continue;
            };
            let mut advisories: Vec<Arc<str>> = Vec::with_capacity(run.len());
            let mut fixed: Option<Vec<String>> = None;
            for e in evidence() {
                if !advisories.contains(&e.advisory) {
                    advisories.push(e.advisory.clone());
                }
                // Pool the fixes of other evidence with the deciding status (rare: the same
                // vulnerability through two advisories of one package).
                if e.reason.status == best.reason.status && !std::ptr::eq(e, best) {
                    let pooled = fixed.get_or_insert_with(|| best.reason.fixed.to_vec());
                    for f in e.reason.fixed.iter() {
                        if !pooled.contains(f) {
                            pooled.push(f.clone());
                        }
                    }
                }
            }
            let mut reason = best.reason.clone();
            if let Some(fixed) = fixed {
                reason.fixed = fixed.into();
            }
            let sev = &v.severity;
            out.push(Match {
                vulnerability: v.id.clone(),
                aliases: v.aliases.clone(),
                advisories,
                status: reason.status,
                range: reason.range.clone(),
                fixed: reason.fixed.clone(),
                reason,
                confidence: best.confidence,
                severity: sev.level,
                cvss_score: sev
                    .cvss_v3
                    .as_ref()
                    .or(sev.cvss_v4.as_ref())
                    .or(sev.cvss_v2.as_ref())
                    .map(|c| c.base_score),
                kev: v.kev,
                epss: v.epss.map(|e| e.score),
            });
        }
        out.sort_by(|a, b| a.vulnerability.cmp(&b.vulnerability));
        out
    }

    fn evaluate_entry(
        &self,
        entry: &Entry,
        r: &Resolved,
        distro: bool,
        subject: &mut Option<Arc<str>>,
        hits: &mut Hits,
    ) {
        // `Index::entries` already picked the query's release block; a distro query without a
        // release cannot be decided and matches nothing rather than everything.
        if entry.release.is_some() && r.release.is_none() && distro {
            return;
        }
        let (Some(adv), Some(adv_id)) = (
            self.kb.advisories.get(entry.adv as usize),
            self.kb.index.advisory_ids.get(entry.adv as usize),
        ) else {
            return;
        };
        let Some(aff) = adv.affected.get(entry.aff as usize) else {
            return;
        };
        let confidence = if distro {
            Confidence::DistroExact
        } else {
            Confidence::EcosystemExact
        };
        let (status, range, fixed): (_, _, Arc<[String]>) = match aff.status {
            AffectedStatus::NotAffected => (MatchStatus::NotAffected, None, self.no_fix.clone()),
            AffectedStatus::WillNotFix => (MatchStatus::WillNotFix, None, self.no_fix.clone()),
            AffectedStatus::Affected => {
                let compiled = entry.compiled.get_or_init(|| ranges::compile(aff));
                let RangeVerdict::Affected { range, fixed } =
                    compiled.evaluate(&r.version, r.parsed.as_ref())
                else {
                    return;
                };
                // The version crate names the next fix; otherwise the range's or the native
                // requirement's safe versions are the fix.
                let fixes: Arc<[String]> = match fixed {
                    Some(f) => Arc::from([f]),
                    None => match (&aff.requirements, range.and_then(|i| aff.ranges.get(i))) {
                        (Some(req), _) if !req.safe.is_empty() => {
                            req.safe.iter().cloned().collect()
                        }
                        (None, Some(rs)) if rs.fixed_versions().next().is_some() => {
                            rs.fixed_versions().map(str::to_owned).collect()
                        }
                        _ => self.no_fix.clone(),
                    },
                };
                let texts = entry.range_text.get_or_init(|| render_ranges(aff));
                let text = texts.get(range.unwrap_or(aff.ranges.len())).cloned();
                (MatchStatus::Affected, text, fixes)
            }
        };
        let subject = subject
            .get_or_insert_with(|| {
                Arc::from(format!("{} {} {}", r.display_ecosystem, r.name, r.version))
            })
            .clone();
        let reason = Reason {
            subject,
            advisory: adv_id.clone(),
            status,
            range,
            fixed,
            cpe: false,
        };
        hits.add(
            &entry.groups,
            Evidence {
                advisory: adv_id.clone(),
                reason,
                confidence,
            },
        );
    }

    /// The NVD fallback: CPE configurations for software no distro or ecosystem feed covers.
    fn match_cpe(&self, q: &PackageQuery, no_ecosystem: bool, hits: &mut Hits) {
        let (targets, confidence) = match q.cpe.as_deref().map(Cpe::parse) {
            Some(Ok(c)) => {
                let mut all = vec![c.clone()];
                for alias in self
                    .kb
                    .index
                    .cpe_aliases
                    .get(&c.vendor_product())
                    .into_iter()
                    .flatten()
                {
                    if let Some((v, p)) = alias.split_once(':') {
                        let named = Cpe::product(v, p);
                        let mut other = c.clone();
                        other.vendor = named.vendor;
                        other.product = named.product;
                        all.push(other);
                    }
                }
                (all, Confidence::CpeVendorProduct)
            }
            Some(Err(_)) => return,
            None if no_ecosystem => (
                desktop::application_cpes(&q.name, &q.version, q.platform),
                Confidence::CpeHeuristic,
            ),
            None => return,
        };
        let platform = q.platform.map(Platform::cpes).unwrap_or_default();
        for target in &targets {
            let Some(candidates) = self.kb.index.cpe.get(&target.vendor_product()) else {
                continue;
            };
            let t = crate::cpe::Target {
                software: target,
                platform: &platform,
            };
            let subject: Arc<str> = Arc::from(format!("{} {}", target.vendor_product(), q.version));
            for &(a, g) in candidates {
                let (Some(adv), Some(adv_id)) = (
                    self.kb.advisories.get(a as usize),
                    self.kb.index.advisory_ids.get(a as usize),
                ) else {
                    continue;
                };
                if adv.is_retracted() || adv.source != Source::Nvd {
                    continue;
                }
                let Some(hit) = adv.configurations.iter().find_map(|c| c.affects(&t)) else {
                    continue;
                };
                let reason = Reason {
                    subject: subject.clone(),
                    advisory: adv_id.clone(),
                    status: MatchStatus::Affected,
                    range: Some(Arc::from(hit.describe())),
                    fixed: hit.end_excluding.iter().cloned().collect(),
                    cpe: true,
                };
                hits.add(
                    &[g],
                    Evidence {
                        advisory: adv_id.clone(),
                        reason,
                        confidence,
                    },
                );
            }
        }
    }
}
