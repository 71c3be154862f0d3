//! Reads lockfiles or SBOMs and prints what they list: `name version ecosystem` per package,
//! then the skipped entries with their reasons. The kind of lockfile comes from the file name;
//! anything else is read as an SBOM.
//!
//!     cargo run -p zerotrace-inventory --example read_lockfile -- Cargo.lock bom.cdx.json

use zerotrace_inventory::lockfile::{kind_from_file_name, read_lockfile};
use zerotrace_inventory::sbom::read_sbom;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for arg in std::env::args().skip(1) {
        let path = std::path::Path::new(&arg);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (packages, skipped) = if kind_from_file_name(&name).is_some() {
            let read = read_lockfile(path, None)?;
            (read.packages, read.skipped)
        } else {
            let read = read_sbom(path)?;
            (read.packages, read.skipped)
        };
        println!(
            "{arg}: {} packages, {} skipped",
            packages.len(),
            skipped.len()
        );
        for p in &packages {
            println!("  {} {} {}", p.name, p.version, p.ecosystem);
        }
        for s in &skipped {
            println!("  skipped {}: {}", s.entry, s.reason);
        }
    }
    Ok(())
}
