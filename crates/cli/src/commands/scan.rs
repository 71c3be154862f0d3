//! `zerotrace scan`: what a directory, lockfile or SBOM holds, matched against the local
//! knowledge base, printed as a table, JSON, SARIF or CycloneDX with VEX. No server needed.

mod cyclonedx;
mod sarif;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use zerotrace_inventory::lockfile::{kind_from_file_name, read_lockfile};
use zerotrace_inventory::sbom::read_sbom;
use zerotrace_inventory::{
    FileError, LockfileKind, Manager, OsRelease, Package, ScanOptions, Skipped,
};
use zerotrace_vulndb::cvss::SeverityLevel;
use zerotrace_vulndb::{KnowledgeBase, Match, MatchStatus, PackageQuery, Platform, Source};

use super::vulndb;

/// Scan a directory, lockfile or SBOM for known vulnerabilities, offline.
///
/// TARGET is a directory or root filesystem (every installed-software collector runs), a
/// lockfile recognized by its name (package-lock.json, yarn.lock, Cargo.lock, poetry.lock,
/// requirements*.txt, go.mod, Gemfile.lock, composer.lock; `--kind` for other names), or an
/// SBOM recognized by its content (CycloneDX JSON/XML, SPDX 2 JSON).
///
/// Exit codes: 0 no finding at or above `--fail-on` (or no `--fail-on`); 1 findings at or above
/// it; 2 usage or input error (unreadable target, no knowledge base).
#[derive(clap::Args)]
pub struct Args {
    /// Directory, lockfile or SBOM to scan.
    pub target: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Exit with 1 when a finding at or above this severity exists. Findings without a
    /// severity count as low; informational advisories (unmaintained, unsound) never count.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
    /// Read TARGET as this lockfile kind whatever its file name.
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// The knowledge base file (default: `vulndb.bin` in the data dir).
    #[arg(long)]
    pub vulndb: Option<PathBuf>,
    #[command(flatten)]
    pub location: vulndb::Location,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people, most severe first, and a summary line.
    Table,
    /// ZeroTrace's scan report (`"schema": "zerotrace.scan.v1"`).
    Json,
    /// SARIF 2.1.0: one rule per vulnerability, one result per vulnerable package.
    Sarif,
    /// CycloneDX 1.5 JSON: the components and a VEX `vulnerabilities` section.
    Cyclonedx,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    Critical,
    High,
    Medium,
    Low,
    /// Any finding, informational ones included.
    Any,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    PackageLock,
    YarnLock,
    CargoLock,
    PoetryLock,
    Requirements,
    GoMod,
    GemfileLock,
    ComposerLock,
}

impl Kind {
    fn lockfile(self) -> LockfileKind {
        match self {
            Kind::PackageLock => LockfileKind::PackageLock,
            Kind::YarnLock => LockfileKind::YarnLock,
            Kind::CargoLock => LockfileKind::CargoLock,
            Kind::PoetryLock => LockfileKind::PoetryLock,
            Kind::Requirements => LockfileKind::Requirements,
            Kind::GoMod => LockfileKind::GoMod,
            Kind::GemfileLock => LockfileKind::GemfileLock,
            Kind::ComposerLock => LockfileKind::ComposerLock,
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match scan(&args) {
        Ok(code) => Ok(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            Ok(ExitCode::from(2))
        }
    }
}

/// What the target listed, before matching.
struct Inventory {
    /// `directory`, `lockfile:cargo-lock`, `sbom:cyclonedx-json`, ...
    kind: String,
    os: Option<OsRelease>,
    packages: Vec<Package>,
    skipped: Vec<Skipped>,
    errors: Vec<FileError>,
}

fn read_target(target: &Path, kind: Option<Kind>) -> anyhow::Result<Inventory> {
    let metadata =
        std::fs::metadata(target).with_context(|| format!("cannot read {}", target.display()))?;
    if metadata.is_dir() {
        if kind.is_some() {
            anyhow::bail!(
                "--kind applies to a file; {} is a directory",
                target.display()
            );
        }
        let report = zerotrace_inventory::scan(target, &ScanOptions::default());
        return Ok(Inventory {
            kind: "directory".to_owned(),
            os: report.os,
            packages: report.packages,
            skipped: Vec::new(),
            errors: report.errors,
        });
    }
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(lockfile) = kind
        .map(Kind::lockfile)
        .or_else(|| kind_from_file_name(&name))
    {
        let read = read_lockfile(target, Some(lockfile))
            .with_context(|| format!("cannot read {} as a lockfile", target.display()))?;
        return Ok(Inventory {
            kind: Manager::Lockfile(read.kind).to_string(),
            os: None,
            packages: read.packages,
            skipped: read.skipped,
            errors: Vec::new(),
        });
    }
    let read = read_sbom(target).map_err(|error| {
        anyhow::anyhow!(
            "{error}\n{} is neither a lockfile known by its name (Cargo.lock, package-lock.json, \
             yarn.lock, poetry.lock, requirements.txt, go.mod, Gemfile.lock, composer.lock; \
             `--kind` for other names) nor a CycloneDX or SPDX JSON SBOM",
            target.display()
        )
    })?;
    Ok(Inventory {
        kind: Manager::Sbom(read.kind).to_string(),
        os: None,
        packages: read.packages,
        skipped: read.skipped,
        errors: Vec::new(),
    })
}

/// One distinct package version, matched once, with every place it was found.
pub(crate) struct Group {
    /// Indices into the inventory's packages; the first is the representative.
    members: Vec<usize>,
    findings: Vec<Finding>,
}

pub(crate) struct Finding {
    m: Match,
    summary: String,
    /// RustSec's `informational` kind (`unmaintained`, `unsound`, `notice`): not a vulnerability.
    informational: Option<String>,
    /// The lowest fixed version above the installed one.
    fixed_in: Option<String>,
}

impl Finding {
    fn severity(&self) -> &'static str {
        self.m.severity.map_or("unknown", SeverityLevel::as_str)
    }

    /// Sort and threshold rank: critical 4 ... low 1, none 0; unscored counts as low.
    fn rank(&self) -> u8 {
        match self.m.severity {
            Some(SeverityLevel::Critical) => 4,
            Some(SeverityLevel::High) => 3,
            Some(SeverityLevel::Medium) => 2,
            Some(SeverityLevel::Low) | None => 1,
            Some(SeverityLevel::None) => 0,
        }
    }

    fn trips(&self, fail_on: FailOn) -> bool {
        let threshold = match fail_on {
            FailOn::Any => return true,
            FailOn::Critical => 4,
            FailOn::High => 3,
            FailOn::Medium => 2,
            FailOn::Low => 1,
        };
        self.informational.is_none() && self.rank() >= threshold
    }
}

/// The query the matcher gets for a package: applications go by display name and platform.
/// Equal queries are one distinct package version (the dedupe key), so the purl, which can
/// differ by qualifiers alone, stays out.
fn query(p: &Package) -> PackageQuery {
    let platform = match p.manager {
        Manager::MacApp => Some(Platform::Macos),
        Manager::WindowsApp => Some(Platform::Windows),
        _ => None,
    };
    if let Some(platform) = platform {
        let name = p
            .app
            .as_ref()
            .and_then(|a| a.display_name.as_deref())
            .unwrap_or(&p.name);
        return PackageQuery::application(name, &p.version, Some(platform));
    }
    let mut q = PackageQuery::new(p.ecosystem.as_str(), &p.name, &p.version);
    if let Some(source) = &p.source {
        q = q.with_source(&source.name, source.version.as_deref());
    }
    q
}

/// The RustSec `informational` field of the advisories that matched, if any says so.
fn informational(kb: &KnowledgeBase, m: &Match, package: &str) -> Option<String> {
    m.advisories.iter().find_map(|id| {
        kb.advisory(Source::Osv, id)?
            .affected
            .iter()
            .filter(|a| a.package.eq_ignore_ascii_case(package))
            .find_map(|a| {
                let specific: serde_json::Value =
                    serde_json::from_str(a.database_specific.as_deref()?).ok()?;
                specific.get("informational")?.as_str().map(str::to_owned)
            })
    })
}

fn nearest_fix(ecosystem: &str, installed: &str, fixed: &[String]) -> Option<String> {
    let eco = zerotrace_version::Ecosystem::parse(ecosystem);
    let order = |a: &str, b: &str| zerotrace_version::compare(&eco, a, b).ok();
    fixed
        .iter()
        .filter(|f| order(f, installed) == Some(Ordering::Greater))
        .min_by(|a, b| order(a, b).unwrap_or(Ordering::Equal))
        .cloned()
}

/// Matches each distinct package version once and fans the result out to its occurrences.
fn match_all(kb: &KnowledgeBase, packages: &[Package]) -> Vec<Group> {
    let matcher = kb.matcher();
    let mut index: HashMap<PackageQuery, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    for (i, p) in packages.iter().enumerate() {
        let q = query(p);
        if let Some(&g) = index.get(&q) {
            if let Some(group) = groups.get_mut(g) {
                group.members.push(i);
            }
            continue;
        }
        let findings = matcher
            .match_package(&q)
            .into_iter()
            .filter(Match::is_vulnerable)
            .map(|m| Finding {
                summary: kb
                    .show(&m.vulnerability)
                    .map(|v| v.vulnerability.summary.clone())
                    .unwrap_or_default(),
                informational: informational(kb, &m, &p.name),
                fixed_in: nearest_fix(p.ecosystem.as_str(), &p.version, &m.fixed),
                m,
            })
            .collect();
        index.insert(q, groups.len());
        groups.push(Group {
            members: vec![i],
            findings,
        });
    }
    groups
}

/// Everything an output format needs.
pub(crate) struct Scan<'a> {
    target: &'a Path,
    inventory: Inventory,
    groups: Vec<Group>,
    kb: &'a KnowledgeBase,
}

impl Scan<'_> {
    /// (group, finding) pairs, most severe first, then KEV, package, version, id.
    fn sorted(&self) -> Vec<(&Group, &Finding)> {
        let mut all: Vec<(&Group, &Finding)> = self
            .groups
            .iter()
            .flat_map(|g| g.findings.iter().map(move |f| (g, f)))
            .collect();
        all.sort_by(|(ga, a), (gb, b)| {
            b.rank()
                .cmp(&a.rank())
                .then(a.informational.is_some().cmp(&b.informational.is_some()))
                .then(b.m.kev.cmp(&a.m.kev))
                .then_with(|| self.package(ga).name.cmp(&self.package(gb).name))
                .then_with(|| self.package(ga).version.cmp(&self.package(gb).version))
                .then_with(|| a.m.vulnerability.cmp(&b.m.vulnerability))
        });
        all
    }

    fn package(&self, group: &Group) -> &Package {
        // Every group has at least the member that created it.
        let first = group.members.first().copied().unwrap_or_default();
        &self.inventory.packages[first]
    }

    fn locations(&self, group: &Group) -> Vec<&str> {
        let mut out: Vec<&str> = group
            .members
            .iter()
            .filter_map(|&i| self.inventory.packages.get(i))
            .map(|p| p.location.as_str())
            .collect();
        out.dedup();
        out
    }

    fn summary(&self, fail_on: Option<FailOn>) -> Summary {
        let mut severities: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut findings = 0;
        let mut informational = 0;
        let mut kev = 0;
        for f in self.groups.iter().flat_map(|g| &g.findings) {
            findings += 1;
            if f.informational.is_some() {
                informational += 1;
            } else {
                *severities.entry(f.severity()).or_insert(0) += 1;
            }
            kev += usize::from(f.m.kev);
        }
        Summary {
            packages: self.inventory.packages.len(),
            distinct: self.groups.len(),
            vulnerable_packages: self
                .groups
                .iter()
                .filter(|g| !g.findings.is_empty())
                .count(),
            findings,
            severities,
            informational,
            kev,
            fail_on: fail_on.map(|f| format!("{f:?}").to_ascii_lowercase()),
            failed: fail_on.is_some_and(|t| {
                self.groups
                    .iter()
                    .flat_map(|g| &g.findings)
                    .any(|f| f.trips(t))
            }),
        }
    }
}

#[derive(Serialize)]
struct Summary {
    /// Packages the target listed.
    packages: usize,
    /// Distinct package versions matched.
    distinct: usize,
    vulnerable_packages: usize,
    findings: usize,
    /// Non-informational findings per severity (`unknown` when unscored).
    severities: BTreeMap<&'static str, usize>,
    informational: usize,
    kev: usize,
    fail_on: Option<String>,
    /// Whether a finding at or above `fail_on` exists (the exit code is 1 then).
    failed: bool,
}

fn scan(args: &Args) -> anyhow::Result<ExitCode> {
    let inventory = read_target(&args.target, args.kind)?;
    let database = args.vulndb.clone().unwrap_or_else(|| args.location.file());
    let kb = vulndb::load(&database)?;
    for error in &inventory.errors {
        eprintln!("warning: {error}");
    }
    let groups = match_all(&kb, &inventory.packages);
    let scan = Scan {
        target: &args.target,
        inventory,
        groups,
        kb: &kb,
    };
    let summary = scan.summary(args.fail_on);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        Format::Table => write_table(&scan, &summary, &mut out)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &json_report(&scan, &database, &summary))?;
            writeln!(out)?;
        }
        Format::Sarif => {
            serde_json::to_writer_pretty(&mut out, &sarif::report(&scan))?;
            writeln!(out)?;
        }
        Format::Cyclonedx => {
            serde_json::to_writer_pretty(&mut out, &cyclonedx::report(&scan)?)?;
            writeln!(out)?;
        }
    }
    out.flush().context("writing to stdout")?;
    Ok(if summary.failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Serialize)]
struct JsonReport<'a> {
    schema: &'static str,
    target: String,
    kind: &'a str,
    vulndb: String,
    summary: &'a Summary,
    findings: Vec<JsonFinding<'a>>,
    /// Entries the reader saw but could not match (unpinned, path dependencies, ...).
    skipped: &'a [Skipped],
    /// Files inside a scanned directory that could not be read.
    errors: &'a [FileError],
}

#[derive(Serialize)]
struct JsonPackage<'a> {
    ecosystem: &'a str,
    name: &'a str,
    version: &'a str,
    purl: &'a str,
    locations: Vec<&'a str>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    package: JsonPackage<'a>,
    /// Primary id (the CVE when there is one).
    vulnerability: &'a str,
    aliases: Vec<&'a str>,
    /// The advisories that matched (`RUSTSEC-…`, `GHSA-…`, `DSA-…`).
    advisories: Vec<&'a str>,
    summary: &'a str,
    status: &'static str,
    severity: &'static str,
    cvss_score: Option<f64>,
    kev: bool,
    epss: Option<f32>,
    informational: Option<&'a str>,
    fixed: &'a [String],
    fixed_in: Option<&'a str>,
    range: Option<&'a str>,
    confidence: &'static str,
    reason: String,
}

fn json_report<'a>(scan: &'a Scan<'_>, database: &Path, summary: &'a Summary) -> JsonReport<'a> {
    let findings = scan
        .sorted()
        .into_iter()
        .map(|(g, f)| {
            let p = scan.package(g);
            JsonFinding {
                package: JsonPackage {
                    ecosystem: p.ecosystem.as_str(),
                    name: &p.name,
                    version: &p.version,
                    purl: &p.purl,
                    locations: scan.locations(g),
                },
                vulnerability: &f.m.vulnerability,
                aliases: f.m.aliases.iter().map(|a| &**a).collect(),
                advisories: f.m.advisories.iter().map(|a| &**a).collect(),
                summary: &f.summary,
                status: f.m.status.as_str(),
                severity: f.severity(),
                cvss_score: f.m.cvss_score,
                kev: f.m.kev,
                epss: f.m.epss,
                informational: f.informational.as_deref(),
                fixed: &f.m.fixed,
                fixed_in: f.fixed_in.as_deref(),
                range: f.m.range.as_deref(),
                confidence: f.m.confidence.as_str(),
                reason: f.m.reason.to_string(),
            }
        })
        .collect();
    JsonReport {
        schema: "zerotrace.scan.v1",
        target: scan.target.display().to_string(),
        kind: &scan.inventory.kind,
        vulndb: database.display().to_string(),
        summary,
        findings,
        skipped: &scan.inventory.skipped,
        errors: &scan.inventory.errors,
    }
}

/// "CVE-2020-26235 (RUSTSEC-2020-0071)": the primary id and the advisory that matched.
fn vulnerability_label(f: &Finding) -> String {
    let others: Vec<&str> =
        f.m.advisories
            .iter()
            .map(|a| &**a)
            .filter(|a| *a != &*f.m.vulnerability)
            .collect();
    if others.is_empty() {
        f.m.vulnerability.to_string()
    } else {
        format!("{} ({})", f.m.vulnerability, others.join(", "))
    }
}

fn fixed_label(f: &Finding) -> String {
    if f.m.status == MatchStatus::WillNotFix {
        return "will not fix".to_owned();
    }
    match (&f.fixed_in, f.m.fixed.first()) {
        (Some(v), _) => v.clone(),
        (None, Some(_)) => f.m.fixed.join(", "),
        (None, None) => "-".to_owned(),
    }
}

fn write_table(scan: &Scan<'_>, summary: &Summary, out: &mut impl Write) -> anyhow::Result<()> {
    let header = [
        "PACKAGE",
        "VERSION",
        "VULNERABILITY",
        "SEVERITY",
        "FIXED IN",
        "KEV",
    ];
    let rows: Vec<[String; 6]> = scan
        .sorted()
        .into_iter()
        .map(|(g, f)| {
            let p = scan.package(g);
            [
                p.name.clone(),
                p.version.clone(),
                vulnerability_label(f),
                f.informational
                    .clone()
                    .unwrap_or_else(|| f.severity().to_owned()),
                fixed_label(f),
                if f.m.kev { "yes" } else { "" }.to_owned(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 6]| {
            let mut text = String::new();
            for (cell, w) in cells.iter().zip(widths) {
                text.push_str(&format!("{cell:<w$}  "));
            }
            text.trim_end().to_owned()
        };
        writeln!(out, "{}", line(header))?;
        for row in &rows {
            writeln!(out, "{}", line(row.each_ref().map(String::as_str)))?;
        }
        writeln!(out)?;
    }
    let by_severity: Vec<String> = ["critical", "high", "medium", "low", "none", "unknown"]
        .into_iter()
        .filter_map(|s| summary.severities.get(s).map(|n| format!("{n} {s}")))
        .collect();
    let mut line = format!(
        "{} ({}): {} packages, {} distinct; {} findings in {} packages",
        scan.target.display(),
        scan.inventory.kind,
        summary.packages,
        summary.distinct,
        summary.findings,
        summary.vulnerable_packages
    );
    if !by_severity.is_empty() {
        line.push_str(&format!(" ({})", by_severity.join(", ")));
    }
    if summary.informational > 0 {
        line.push_str(&format!(", {} informational", summary.informational));
    }
    if summary.kev > 0 {
        line.push_str(&format!(", {} known exploited", summary.kev));
    }
    if !scan.inventory.skipped.is_empty() {
        line.push_str(&format!(
            "; {} entries skipped (--format json lists them)",
            scan.inventory.skipped.len()
        ));
    }
    if let Some(t) = &summary.fail_on {
        line.push_str(&format!(
            "; --fail-on {t}: {}",
            if summary.failed { "FAILED" } else { "passed" }
        ));
    }
    writeln!(out, "{line}")?;
    Ok(())
}

/// Where a vulnerability is described for people, by the namespace of its id.
pub(crate) fn advisory_url(id: &str) -> String {
    if id.starts_with("CVE-") {
        format!("https://nvd.nist.gov/vuln/detail/{id}")
    } else if id.starts_with("GHSA-") {
        format!("https://github.com/advisories/{id}")
    } else if id.starts_with("RUSTSEC-") {
        format!("https://rustsec.org/advisories/{id}.html")
    } else {
        format!("https://osv.dev/vulnerability/{id}")
    }
}
