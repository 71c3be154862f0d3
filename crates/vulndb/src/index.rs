//! The in-memory index: advisories grouped into vulnerabilities by alias, affected entries keyed
//! by `(ecosystem, normalized package name)`, NVD configurations keyed by CPE `vendor:product`.
//!
//! Built from the advisory list after every import or load; it is derived data and is never
//! persisted, so the store format stays the advisory model alone.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use crate::advisory::{Advisory, Source};
use crate::cvss::{CvssVector, CvssVersion, SeverityLevel};
use crate::fxhash::FxMap;
use crate::import::epss::{EpssScore, pack_cve};
use crate::import::kev::KevEntry;
use crate::kb::KnowledgeBase;
use crate::names;
use crate::ranges::Compiled;

/// One vulnerability: every advisory that describes it, under one primary id.
#[derive(Debug)]
pub struct Vulnerability {
    /// The CVE id when there is one, else the first GHSA, else the smallest id.
    pub id: Arc<str>,
    /// Every other public id it is known under (the synthetic per-release ids of Alpine secdb
    /// entries are left out; `show` lists those advisories).
    pub aliases: Arc<[Arc<str>]>,
    /// Indices of the member advisories in the knowledge base.
    pub members: Vec<u32>,
    pub severity: Severity,
    pub kev: bool,
    pub epss: Option<EpssScore>,
    pub summary: String,
}

/// The severity picked for a vulnerability from its members' data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Severity {
    /// From the v3.x score if any, else v4.0, else v2, else a source's own rating.
    pub level: Option<SeverityLevel>,
    pub cvss_v3: Option<CvssVector>,
    pub cvss_v4: Option<CvssVector>,
    pub cvss_v2: Option<CvssVector>,
    pub rating: Option<String>,
}

impl Severity {
    fn from_members<'a>(members: impl Iterator<Item = &'a Advisory> + Clone) -> Self {
        // Prefer NVD's own (primary) score, then any other scorer's.
        let pick = |want: &dyn Fn(CvssVersion) -> bool| {
            let all = members
                .clone()
                .flat_map(|a| a.severity.iter().map(move |v| (a, v)))
                .filter(|(_, v)| want(v.version));
            let mut best: Option<(u8, &CvssVector)> = None;
            for (adv, v) in all {
                let rank = match (adv.source, v.scorer.as_deref()) {
                    (Source::Nvd, Some("nvd@nist.gov")) => 0,
                    (Source::Nvd, _) => 1,
                    _ => 2,
                };
                if best.is_none_or(|(r, _)| rank < r) {
                    best = Some((rank, v));
                }
            }
            best.map(|(_, v)| v.clone())
        };
        let cvss_v3 = pick(&|v| matches!(v, CvssVersion::V3_0 | CvssVersion::V3_1));
        let cvss_v4 = pick(&|v| v == CvssVersion::V4_0);
        let cvss_v2 = pick(&|v| v == CvssVersion::V2);
        let rating = members.clone().find_map(|a| a.rating.clone());
        let level = cvss_v3
            .as_ref()
            .or(cvss_v4.as_ref())
            .or(cvss_v2.as_ref())
            .map(CvssVector::severity)
            .or_else(|| rating.as_deref().and_then(SeverityLevel::from_label));
        Self {
            level,
            cvss_v3,
            cvss_v4,
            cvss_v2,
            rating,
        }
    }
}

/// One affected entry of one advisory, under its package key.
#[derive(Debug)]
pub(crate) struct Entry {
    pub adv: u32,
    pub aff: u32,
    /// Normalized release (`11`, `v3.19`, `22.04`) for distributions.
    pub release: Option<String>,
    /// The vulnerabilities a match on this entry is reported as (several for umbrella notices).
    pub groups: Box<[u32]>,
    /// Ranges compiled by `zerotrace-version` on first use.
    pub compiled: OnceLock<Compiled>,
    /// Rendered ranges (one per OSV range, then one for the versions list / requirements),
    /// built on first use and shared by every match through this entry.
    pub range_text: OnceLock<Box<[Arc<str>]>>,
}

#[derive(Debug, Default)]
pub struct Index {
    pub(crate) vulnerabilities: Vec<Vulnerability>,
    /// Advisory ids by advisory index, shared with matches.
    pub(crate) advisory_ids: Vec<Arc<str>>,
    by_id: FxMap<String, u32>,
    /// ecosystem key -> normalized name -> entries (nested so lookups borrow the query's strings).
    pub(crate) packages: FxMap<String, FxMap<String, Vec<Entry>>>,
    /// `vendor:product` -> (NVD advisory, its group).
    pub(crate) cpe: FxMap<String, Vec<(u32, u32)>>,
    /// `vendor:product` -> other names of the same product (Debian's CPE-aliases).
    pub(crate) cpe_aliases: FxMap<String, Vec<String>>,
}

struct UnionFind(Vec<u32>);

impl UnionFind {
    fn find(&mut self, mut x: u32) -> u32 {
        while let Some(&parent) = self.0.get(x as usize) {
            if parent == x {
                break;
            }
            let grand = self.0.get(parent as usize).copied().unwrap_or(parent);
            if let Some(slot) = self.0.get_mut(x as usize) {
                *slot = grand;
            }
            x = parent;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb
            && let Some(slot) = self.0.get_mut(ra.max(rb) as usize)
        {
            *slot = ra.min(rb);
        }
    }
}

fn id_rank(id: &str) -> (u8, &str) {
    let class = if id.starts_with("CVE-") {
        0
    } else if id.starts_with("GHSA-") {
        1
    } else {
        2
    };
    (class, id)
}

impl Index {
    pub(crate) fn build<'a>(
        advisories: &'a [Advisory],
        kev: &BTreeMap<String, KevEntry>,
        epss: &[EpssScore],
        cpe_aliases: &[Vec<String>],
    ) -> Self {
        // Intern every id, then union each advisory with its aliases (umbrella notices only with
        // their own id: the CVEs they fix stay separate vulnerabilities).
        // Interned ids borrow from the advisories; only `by_id` keeps owned copies.
        let mut ids: FxMap<&str, u32> = FxMap::default();
        let mut names_of: Vec<&str> = Vec::new();
        let mut intern = |s: &'a str, ids: &mut FxMap<&'a str, u32>| -> u32 {
            *ids.entry(s).or_insert_with(|| {
                names_of.push(s);
                (names_of.len() - 1) as u32
            })
        };
        let mut own: Vec<u32> = Vec::with_capacity(advisories.len());
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        let mut fixes: Vec<Vec<u32>> = Vec::with_capacity(advisories.len());
        for adv in advisories {
            let me = intern(&adv.id, &mut ids);
            own.push(me);
            for alias in &adv.aliases {
                let other = intern(alias, &mut ids);
                pairs.push((me, other));
            }
            fixes.push(adv.fixes.iter().map(|f| intern(f, &mut ids)).collect());
        }
        let mut uf = UnionFind((0..names_of.len() as u32).collect());
        for (a, b) in pairs {
            uf.union(a, b);
        }
        // Dense group numbers, one per root.
        let mut group_of_root: FxMap<u32, u32> = FxMap::default();
        let mut group_ids: Vec<Vec<u32>> = Vec::new();
        let mut by_id = FxMap::with_capacity_and_hasher(names_of.len(), Default::default());
        for i in 0..names_of.len() as u32 {
            let root = uf.find(i);
            let g = *group_of_root.entry(root).or_insert_with(|| {
                group_ids.push(Vec::new());
                (group_ids.len() - 1) as u32
            });
            if let Some(list) = group_ids.get_mut(g as usize) {
                list.push(i);
            }
            if let Some(name) = names_of.get(i as usize) {
                by_id.insert((*name).to_owned(), g);
            }
        }
        let group =
            |i: u32, uf: &mut UnionFind| group_of_root.get(&uf.find(i)).copied().unwrap_or(0);
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); group_ids.len()];
        let mut reports_as: Vec<Box<[u32]>> = Vec::with_capacity(advisories.len());
        for (a, (&me, fix)) in own.iter().zip(&fixes).enumerate() {
            let mine = group(me, &mut uf);
            let mut groups: Vec<u32> = fix.iter().map(|&f| group(f, &mut uf)).collect();
            groups.sort_unstable();
            groups.dedup();
            for &g in groups.iter().chain(std::iter::once(&mine)) {
                if let Some(m) = members.get_mut(g as usize)
                    && !m.contains(&(a as u32))
                {
                    m.push(a as u32);
                }
            }
            if groups.is_empty() {
                groups.push(mine);
            }
            reports_as.push(groups.into_boxed_slice());
        }
        let vulnerabilities = group_ids
            .iter()
            .zip(members)
            .map(|(id_list, members)| {
                let mut all: Vec<&str> = id_list
                    .iter()
                    .filter_map(|&i| names_of.get(i as usize).copied())
                    .collect();
                all.sort_by_key(|id| id_rank(id));
                let id: Arc<str> = all.first().map_or_else(|| Arc::from(""), |s| Arc::from(*s));
                let aliases = all
                    .iter()
                    .skip(1)
                    .filter(|s| !s.starts_with("ALPINE-"))
                    .map(|s| Arc::from(*s))
                    .collect();
                let member_advs = members.iter().filter_map(|&m| advisories.get(m as usize));
                let cves: Vec<&str> = all
                    .iter()
                    .copied()
                    .filter(|i| i.starts_with("CVE-"))
                    .collect();
                let kev_hit = cves.iter().any(|c| kev.contains_key(*c));
                let epss_hit = cves
                    .iter()
                    .filter_map(|c| pack_cve(c))
                    .filter_map(|k| {
                        epss.binary_search_by_key(&k, |e| e.cve)
                            .ok()
                            .and_then(|i| epss.get(i).copied())
                    })
                    .max_by(|a, b| a.score.total_cmp(&b.score));
                let summary = member_advs
                    .clone()
                    .map(|a| {
                        if a.summary.is_empty() {
                            a.details.as_str()
                        } else {
                            a.summary.as_str()
                        }
                    })
                    .find(|s| !s.is_empty())
                    .map(|s| {
                        s.lines()
                            .next()
                            .unwrap_or_default()
                            .chars()
                            .take(200)
                            .collect()
                    })
                    .unwrap_or_default();
                Vulnerability {
                    id,
                    aliases,
                    severity: Severity::from_members(member_advs),
                    members,
                    kev: kev_hit,
                    epss: epss_hit,
                    summary,
                }
            })
            .collect();

        let mut packages: FxMap<String, FxMap<String, Vec<Entry>>> = FxMap::default();
        let mut cpe: FxMap<String, Vec<(u32, u32)>> = FxMap::default();
        for (a, adv) in advisories.iter().enumerate() {
            if adv.is_retracted() {
                continue;
            }
            let groups = reports_as.get(a).cloned().unwrap_or_default();
            for (f, aff) in adv.affected.iter().enumerate() {
                let (base, release) = names::split_ecosystem(&aff.ecosystem);
                let eco = names::ecosystem_key(base);
                let release = release.map(|r| names::normalize_release(&eco, r));
                let name = names::normalize_name(&eco, &aff.package);
                packages
                    .entry(eco)
                    .or_default()
                    .entry(name)
                    .or_default()
                    .push(Entry {
                        adv: a as u32,
                        aff: f as u32,
                        release,
                        groups: groups.clone(),
                        compiled: OnceLock::new(),
                        range_text: OnceLock::new(),
                    });
            }
            if adv.source == Source::Nvd {
                let g = groups.first().copied().unwrap_or(0);
                let mut products: Vec<String> = adv
                    .configurations
                    .iter()
                    .flat_map(|c| c.vulnerable_products())
                    .collect();
                products.sort();
                products.dedup();
                for p in products {
                    cpe.entry(p).or_default().push((a as u32, g));
                }
            }
        }
        // Entries sorted by release so a query scans only its release's block (plus the
        // release-less entries, which sort first).
        for by_name in packages.values_mut() {
            for entries in by_name.values_mut() {
                entries.sort_by(|a, b| a.release.cmp(&b.release));
            }
        }
        let mut aliases: FxMap<String, Vec<String>> = FxMap::default();
        for group in cpe_aliases {
            for name in group {
                let others = group.iter().filter(|o| *o != name).cloned();
                aliases.entry(name.clone()).or_default().extend(others);
            }
        }
        let advisory_ids = advisories
            .iter()
            .map(|a| Arc::from(a.id.as_str()))
            .collect();
        Self {
            vulnerabilities,
            advisory_ids,
            by_id,
            packages,
            cpe,
            cpe_aliases: aliases,
        }
    }

    /// The entries of a package that can apply to `release`: those without a release, and
    /// those of exactly that release.
    pub(crate) fn entries<'a>(
        &'a self,
        eco: &str,
        name: &str,
        release: Option<&str>,
    ) -> Option<(&'a [Entry], &'a [Entry])> {
        let all = self.packages.get(eco)?.get(name)?;
        let unreleased = all.partition_point(|e| e.release.is_none());
        let (none, rest) = all.split_at(unreleased);
        let block = match release {
            Some(r) => {
                let start = rest.partition_point(|e| e.release.as_deref() < Some(r));
                let end = rest.partition_point(|e| e.release.as_deref() <= Some(r));
                rest.get(start..end).unwrap_or_default()
            }
            None => rest,
        };
        Some((none, block))
    }

    pub(crate) fn group_of(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn advisory<'a>(&self, kb: &'a KnowledgeBase, index: u32) -> Option<&'a Advisory> {
        kb.advisories.get(index as usize)
    }

    pub(crate) fn package_count(&self) -> usize {
        self.packages.values().map(|by_name| by_name.len()).sum()
    }

    pub(crate) fn cpe_product_count(&self) -> usize {
        self.cpe.len()
    }
}
