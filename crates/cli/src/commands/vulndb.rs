//! `zerotrace vulndb`: import feed files into the knowledge base kept in the data dir, report on
//! it, and show one vulnerability by any of its ids.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use zerotrace_vulndb::advisory::{AffectedStatus, RangeEvent};
use zerotrace_vulndb::cvss::CvssVector;
use zerotrace_vulndb::{AdvisoryKey, ImportProgress, ImportReport, KnowledgeBase, names};

use super::admin::print;

/// The knowledge base's file name inside the data dir.
pub const FILE_NAME: &str = "vulndb.bin";

/// Manage the vulnerability knowledge base (`<data-dir>/vulndb.bin`).
///
/// Exit codes: 0 success; 1 a feed file could not be read at all (`import`: what did load is
/// still saved) or the id is unknown (`show`); 2 usage or input errors.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Where the knowledge base lives, as every command that reads it is told.
#[derive(clap::Args, Clone, Debug)]
pub struct Location {
    /// Folder for ZeroTrace's state; the knowledge base is `vulndb.bin` in it.
    #[arg(long, env = "ZEROTRACE_DATA_DIR", default_value = "./zerotrace-data")]
    pub data_dir: PathBuf,
}

impl Location {
    pub fn file(&self) -> PathBuf {
        self.data_dir.join(FILE_NAME)
    }
}

#[derive(clap::Subcommand)]
enum Command {
    /// Import feed files or folders (OSV zips/JSON, NVD CVE API 2.0 JSON, Debian tracker lists,
    /// Alpine secdb, RubySec, Node.js WG, CISA KEV, EPSS) into the knowledge base, replacing
    /// advisories that changed, and report what changed.
    Import {
        /// Feed files or folders (read recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        location: Location,
    },
    /// Counts per source and ecosystem, and when each source was last modified.
    Status {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        location: Location,
    },
    /// One vulnerability by any of its ids (CVE, GHSA, PYSEC, RUSTSEC, GO, DSA, ...), with its
    /// severity, KEV and EPSS, affected packages and fixed versions.
    Show {
        /// The id or alias.
        id: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        location: Location,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let outcome = match args.command {
        Command::Import {
            paths,
            json,
            location,
        } => import(&paths, json, &location),
        Command::Status { json, location } => status(json, &location),
        Command::Show { id, json, location } => show(&id, json, &location),
    };
    // Exit code 1 means "a feed failed" or "not found"; anything that stops the command is a
    // usage or input error.
    Ok(outcome.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::from(2)
    }))
}

/// Loads the knowledge base at `path`, or says how to create one.
pub fn load(path: &Path) -> anyhow::Result<KnowledgeBase> {
    if !path.exists() {
        anyhow::bail!(
            "no vulnerability knowledge base at {}: run `zerotrace vulndb import ../shared/data/vuln` first (or pass the feeds you have)",
            path.display()
        );
    }
    KnowledgeBase::load(path).with_context(|| "cannot load the vulnerability knowledge base")
}

fn key_text((source, id): &AdvisoryKey) -> String {
    format!("{source}:{id}")
}

#[derive(Serialize)]
struct ImportOutput {
    database: String,
    files: Vec<FileOutput>,
    records: usize,
    skipped: usize,
    warnings: usize,
    changes: ChangesOutput,
}

#[derive(Serialize)]
struct FileOutput {
    path: String,
    format: Option<&'static str>,
    records: usize,
    /// Each problem in one line, naming file, record and field.
    problems: Vec<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct ChangesOutput {
    added: usize,
    updated: Vec<String>,
    withdrawn: Vec<String>,
    unchanged: usize,
    /// `ecosystem/name` keys whose matches may differ now.
    packages: usize,
    cpe_products: usize,
    kev_replaced: bool,
    epss_replaced: bool,
}

impl ImportOutput {
    fn new(database: &Path, report: &ImportReport) -> Self {
        let changes = &report.changes;
        ImportOutput {
            database: database.display().to_string(),
            files: report
                .files
                .iter()
                .map(|f| FileOutput {
                    path: f.path.display().to_string(),
                    format: f.format.map(|f| f.as_str()),
                    records: f.records,
                    problems: f.problems.iter().map(ToString::to_string).collect(),
                    error: f.failure.as_ref().map(ToString::to_string),
                })
                .collect(),
            records: report.records(),
            skipped: report.skipped(),
            warnings: report.warnings(),
            changes: ChangesOutput {
                added: changes.added.len(),
                updated: changes.updated.iter().map(key_text).collect(),
                withdrawn: changes.withdrawn.iter().map(key_text).collect(),
                unchanged: changes.unchanged,
                packages: changes.packages.len(),
                cpe_products: changes.cpe_products.len(),
                kev_replaced: changes.kev_replaced,
                epss_replaced: changes.epss_replaced,
            },
        }
    }

    fn text(&self) -> String {
        // Enough problems per file to see what kind they are; `--json` lists every one.
        const SHOWN: usize = 3;
        let mut out = Vec::new();
        for f in &self.files {
            match &f.error {
                Some(error) => out.push(format!("FAILED  {error}")),
                None => out.push(format!(
                    "ok      {}  {}: {} records, {} problems",
                    f.path,
                    f.format.unwrap_or("?"),
                    f.records,
                    f.problems.len()
                )),
            }
            for problem in f.problems.iter().take(SHOWN) {
                out.push(format!("          {problem}"));
            }
            if f.problems.len() > SHOWN {
                out.push(format!(
                    "          ... and {} more (--json lists them all)",
                    f.problems.len() - SHOWN
                ));
            }
        }
        let c = &self.changes;
        out.push(format!(
            "{} records read ({} skipped as malformed, {} with a field ignored)",
            self.records, self.skipped, self.warnings
        ));
        out.push(format!(
            "changes: {} added, {} updated, {} withdrawn, {} unchanged; {} package keys and {} CPE products to re-match{}{}",
            c.added,
            c.updated.len(),
            c.withdrawn.len(),
            c.unchanged,
            c.packages,
            c.cpe_products,
            if c.kev_replaced { "; KEV replaced" } else { "" },
            if c.epss_replaced { "; EPSS replaced" } else { "" },
        ));
        for id in &c.withdrawn {
            out.push(format!("  withdrawn {id}"));
        }
        out.push(format!("saved {}", self.database));
        out.join("\n")
    }
}

fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template("{bar:30} {pos}/{len} files  {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

fn import(paths: &[PathBuf], json: bool, location: &Location) -> anyhow::Result<ExitCode> {
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        anyhow::bail!("{}: no such file or folder", missing.display());
    }
    let database = location.file();
    std::fs::create_dir_all(&location.data_dir)
        .with_context(|| format!("cannot create {}", location.data_dir.display()))?;
    // Importing over the existing knowledge base is what makes the change set meaningful.
    let mut kb = if database.exists() {
        load(&database)?
    } else {
        KnowledgeBase::new()
    };
    let bar = progress_bar();
    let report = kb.import_paths(paths, &mut |p: ImportProgress<'_>| {
        if let Some(bar) = &bar {
            bar.set_length(p.files as u64);
            bar.set_position(p.file as u64);
            bar.set_message(format!("{} ({} records)", p.path.display(), p.records));
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // `save` writes a temporary file and renames it over the old one: a crash never leaves a
    // half-written knowledge base.
    kb.save(&database)
        .with_context(|| "cannot save the vulnerability knowledge base")?;
    let output = ImportOutput::new(&database, &report);
    print(json, &output, || output.text())?;
    let failed = report.files.iter().any(|f| f.failure.is_some());
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Serialize)]
struct StatusOutput {
    database: String,
    bytes: u64,
    advisories: usize,
    /// Advisories per source (`osv`, `nvd`, `debian-dsa`, ...).
    sources: BTreeMap<&'static str, SourceStatus>,
    /// Advisories naming each ecosystem (release stripped: `Debian`, `PyPI`, ...).
    ecosystems: BTreeMap<String, usize>,
    retracted: usize,
    vulnerabilities: usize,
    packages: usize,
    cpe_products: usize,
    kev: usize,
    epss: usize,
    debian_cpe: usize,
    last_modified: Option<String>,
}

#[derive(Serialize, Default)]
struct SourceStatus {
    advisories: usize,
    last_modified: Option<String>,
}

fn status(json: bool, location: &Location) -> anyhow::Result<ExitCode> {
    let database = location.file();
    let kb = load(&database)?;
    let counts = kb.status();
    let mut sources: BTreeMap<&'static str, SourceStatus> = BTreeMap::new();
    let mut ecosystems: BTreeMap<String, usize> = BTreeMap::new();
    for adv in kb.advisories() {
        let entry = sources.entry(adv.source.as_str()).or_default();
        entry.advisories += 1;
        // Feeds write RFC 3339 / ISO 8601 timestamps, which order as text.
        if adv.modified > entry.last_modified {
            entry.last_modified.clone_from(&adv.modified);
        }
        let mut named: Vec<&str> = adv
            .affected
            .iter()
            .map(|a| names::split_ecosystem(&a.ecosystem).0)
            .collect();
        named.sort_unstable();
        named.dedup();
        for eco in named {
            *ecosystems.entry(eco.to_owned()).or_insert(0) += 1;
        }
    }
    let output = StatusOutput {
        database: database.display().to_string(),
        bytes: std::fs::metadata(&database).map(|m| m.len()).unwrap_or(0),
        advisories: counts.advisories.values().sum(),
        last_modified: sources
            .values()
            .filter_map(|s| s.last_modified.clone())
            .max(),
        sources,
        ecosystems,
        retracted: counts.retracted,
        vulnerabilities: counts.vulnerabilities,
        packages: counts.packages,
        cpe_products: counts.cpe_products,
        kev: counts.kev,
        epss: counts.epss,
        debian_cpe: counts.debian_cpe,
    };
    print(json, &output, || {
        let mut out = vec![
            format!(
                "{} ({:.1} MiB): {} advisories ({} withdrawn or rejected) in {} vulnerabilities",
                output.database,
                output.bytes as f64 / 1_048_576.0,
                output.advisories,
                output.retracted,
                output.vulnerabilities
            ),
            format!(
                "{} package keys, {} CPE products, {} KEV entries, {} EPSS scores, {} Debian CPE mappings",
                output.packages, output.cpe_products, output.kev, output.epss, output.debian_cpe
            ),
            "sources:".to_owned(),
        ];
        for (name, s) in &output.sources {
            out.push(format!(
                "  {name:<20} {:>7}  last modified {}",
                s.advisories,
                s.last_modified.as_deref().unwrap_or("-")
            ));
        }
        out.push("ecosystems:".to_owned());
        for (name, n) in &output.ecosystems {
            out.push(format!("  {name:<20} {n:>7}"));
        }
        out.join("\n")
    })?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct ShowOutput {
    id: String,
    aliases: Vec<String>,
    summary: String,
    severity: SeverityOutput,
    kev: Option<KevOutput>,
    epss: Option<EpssOutput>,
    advisories: Vec<AdvisoryOutput>,
}

#[derive(Serialize)]
struct SeverityOutput {
    level: Option<&'static str>,
    cvss_v3: Option<VectorOutput>,
    cvss_v4: Option<VectorOutput>,
    cvss_v2: Option<VectorOutput>,
    rating: Option<String>,
}

#[derive(Serialize)]
struct VectorOutput {
    vector: String,
    score: f64,
}

impl VectorOutput {
    fn new(v: Option<&CvssVector>) -> Option<Self> {
        v.map(|v| VectorOutput {
            vector: v.vector.clone(),
            score: v.base_score,
        })
    }
}

#[derive(Serialize)]
struct KevOutput {
    date_added: String,
    due_date: Option<String>,
    known_ransomware_use: bool,
    required_action: Option<String>,
}

#[derive(Serialize)]
struct EpssOutput {
    score: f32,
    percentile: f32,
}

#[derive(Serialize)]
struct AdvisoryOutput {
    id: String,
    source: &'static str,
    published: Option<String>,
    modified: Option<String>,
    withdrawn: Option<String>,
    rejected: bool,
    summary: String,
    affected: Vec<AffectedOutput>,
    references: Vec<String>,
}

#[derive(Serialize)]
struct AffectedOutput {
    ecosystem: String,
    package: String,
    status: &'static str,
    /// Each range in OSV event order (`>=0 <1.2.3`).
    ranges: Vec<String>,
    /// Enumerated affected versions, when the source lists them.
    versions: usize,
    fixed: Vec<String>,
}

fn status_text(status: AffectedStatus) -> &'static str {
    match status {
        AffectedStatus::Affected => "affected",
        AffectedStatus::NotAffected => "not-affected",
        AffectedStatus::WillNotFix => "will-not-fix",
    }
}

fn show(id: &str, json: bool, location: &Location) -> anyhow::Result<ExitCode> {
    let kb = load(&location.file())?;
    let Some(view) = kb.show(id) else {
        eprintln!("error: no vulnerability known as {id:?} in the knowledge base");
        return Ok(ExitCode::from(1));
    };
    let vuln = view.vulnerability;
    let output = ShowOutput {
        id: vuln.id.to_string(),
        aliases: vuln.aliases.iter().map(ToString::to_string).collect(),
        summary: vuln.summary.clone(),
        severity: SeverityOutput {
            level: vuln.severity.level.map(|l| l.as_str()),
            cvss_v3: VectorOutput::new(vuln.severity.cvss_v3.as_ref()),
            cvss_v4: VectorOutput::new(vuln.severity.cvss_v4.as_ref()),
            cvss_v2: VectorOutput::new(vuln.severity.cvss_v2.as_ref()),
            rating: vuln.severity.rating.clone(),
        },
        kev: view.kev.map(|k| KevOutput {
            date_added: k.date_added.clone(),
            due_date: k.due_date.clone(),
            known_ransomware_use: k.known_ransomware_use(),
            required_action: k.required_action.clone(),
        }),
        epss: view.epss.map(|e| EpssOutput {
            score: e.score,
            percentile: e.percentile,
        }),
        advisories: view
            .advisories
            .iter()
            .map(|adv| AdvisoryOutput {
                id: adv.id.clone(),
                source: adv.source.as_str(),
                published: adv.published.clone(),
                modified: adv.modified.clone(),
                withdrawn: adv.withdrawn.clone(),
                rejected: adv.rejected,
                summary: adv.summary.clone(),
                references: adv.references.clone(),
                affected: adv
                    .affected
                    .iter()
                    .map(|a| AffectedOutput {
                        ecosystem: a.ecosystem.clone(),
                        package: a.package.clone(),
                        status: status_text(a.status),
                        ranges: a
                            .ranges
                            .iter()
                            .map(|r| {
                                r.events
                                    .iter()
                                    .map(|e| match e {
                                        RangeEvent::Introduced(v) => format!(">={v}"),
                                        RangeEvent::Fixed(v) => format!("<{v}"),
                                        RangeEvent::LastAffected(v) => format!("<={v}"),
                                        RangeEvent::Limit(v) => format!("limit {v}"),
                                    })
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            })
                            .collect(),
                        versions: a.versions.len(),
                        fixed: a
                            .ranges
                            .iter()
                            .flat_map(|r| r.fixed_versions())
                            .map(str::to_owned)
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    };
    print(json, &output, || show_text(&output))?;
    Ok(ExitCode::SUCCESS)
}

fn show_text(v: &ShowOutput) -> String {
    let mut out = vec![format!("{}  {}", v.id, v.summary)];
    if !v.aliases.is_empty() {
        out.push(format!("aliases:  {}", v.aliases.join(", ")));
    }
    let mut severity = v.severity.level.unwrap_or("unknown").to_owned();
    for (label, vector) in [
        ("CVSS v3", &v.severity.cvss_v3),
        ("CVSS v4", &v.severity.cvss_v4),
        ("CVSS v2", &v.severity.cvss_v2),
    ] {
        if let Some(vector) = vector {
            severity.push_str(&format!("; {label} {} {}", vector.score, vector.vector));
        }
    }
    out.push(format!("severity: {severity}"));
    match &v.kev {
        Some(k) => out.push(format!(
            "KEV:      known exploited, added {}{}{}",
            k.date_added,
            k.due_date
                .as_deref()
                .map(|d| format!(", due {d}"))
                .unwrap_or_default(),
            if k.known_ransomware_use {
                ", used by ransomware"
            } else {
                ""
            }
        )),
        None => out.push("KEV:      no".to_owned()),
    }
    if let Some(e) = &v.epss {
        out.push(format!(
            "EPSS:     {:.5} (percentile {:.3})",
            e.score, e.percentile
        ));
    }
    for adv in &v.advisories {
        let retracted = match (&adv.withdrawn, adv.rejected) {
            (Some(at), _) => format!("  [withdrawn {at}]"),
            (None, true) => "  [rejected]".to_owned(),
            (None, false) => String::new(),
        };
        out.push(format!("{} ({}){retracted}", adv.id, adv.source));
        for a in &adv.affected {
            let fixed = if a.fixed.is_empty() {
                "no fix listed".to_owned()
            } else {
                format!("fixed in {}", a.fixed.join(", "))
            };
            out.push(format!(
                "  {} {}: {}; {}",
                a.ecosystem, a.package, a.status, fixed
            ));
        }
    }
    out.join("\n")
}
