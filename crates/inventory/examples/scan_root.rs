//! Scans a root (default `/`) and prints elapsed time, package counts per manager and errors.
//! `--json FILE` writes the inventory JSON, `--cyclonedx FILE` a CycloneDX 1.5 BOM.
//! `--baseline` also times `dpkg-query -W` (the OS's own package listing) in the same run and
//! prints the ratio, as the project's benchmarks do.
//!
//!     cargo run --release -p zerotrace-inventory --example scan_root -- / --json /tmp/inv.json

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use zerotrace_inventory::cyclonedx_out::write_cyclonedx;
use zerotrace_inventory::scan::{ScanOptions, scan};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut root = PathBuf::from("/");
    let mut json = None;
    let mut cyclonedx = None;
    let mut baseline = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = args.next().map(PathBuf::from),
            "--cyclonedx" => cyclonedx = args.next().map(PathBuf::from),
            "--baseline" => baseline = true,
            _ => root = PathBuf::from(arg),
        }
    }
    let start = Instant::now();
    let report = scan(&root, &ScanOptions::default());
    let elapsed = start.elapsed();
    let mut per_manager: BTreeMap<String, usize> = BTreeMap::new();
    for p in &report.packages {
        *per_manager.entry(p.manager.to_string()).or_insert(0) += 1;
    }
    println!("root: {}", root.display());
    println!("elapsed: {:.3} s", elapsed.as_secs_f64());
    println!("packages: {}", report.packages.len());
    for (manager, n) in &per_manager {
        println!("  {manager}: {n}");
    }
    println!("errors: {}", report.errors.len());
    for e in report.errors.iter().take(20) {
        println!("  {e}");
    }
    if baseline {
        let start = Instant::now();
        let status = std::process::Command::new("dpkg-query")
            .arg("-W")
            .stdout(std::process::Stdio::null())
            .status()?;
        let dpkg = start.elapsed();
        println!(
            "baseline dpkg-query -W: {:.3} s ({status}); scan / baseline = {:.2}",
            dpkg.as_secs_f64(),
            elapsed.as_secs_f64() / dpkg.as_secs_f64()
        );
    }
    if let Some(path) = json {
        serde_json::to_writer(BufWriter::new(File::create(path)?), &report)?;
    }
    if let Some(path) = cyclonedx {
        write_cyclonedx(&report, BufWriter::new(File::create(path)?))?;
    }
    Ok(())
}
