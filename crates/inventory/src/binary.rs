//! Executables that embed their dependency lists: Go build info and cargo-auditable's
//! `.dep-v0`. Files are opened through `object::ReadCache`, so only headers and the wanted
//! section are read, never the whole binary.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use object::read::ReadCache;
use object::{Object, ObjectSection};
use walkdir::WalkDir;

use crate::cargo_auditable;
use crate::error::{FileError, ParseError};
use crate::fsroot::{expand_dirs, relative};
use crate::go_binary;
use crate::limits::MIB;
use crate::limits::{MAX_WALK_ENTRIES, walk_stopped};
use crate::package::Package;
use crate::scan::{Collected, Context};

/// Directories searched for binaries, each with how deep to walk. Files owned by an OS package
/// are skipped (they are reported as that package).
pub const SEARCH_ROOTS: [(&str, usize); 16] = [
    ("usr/local/bin", 1),
    ("usr/local/sbin", 1),
    ("usr/bin", 1),
    ("usr/sbin", 1),
    ("bin", 1),
    ("sbin", 1),
    ("usr/local/go/bin", 1),
    ("usr/local/go/pkg/tool/*", 1),
    ("opt", 8),
    ("app", 4),
    ("root/go/bin", 1),
    ("home/*/go/bin", 1),
    ("root/.cargo/bin", 1),
    ("home/*/.cargo/bin", 1),
    ("root/.local/bin", 1),
    ("home/*/.local/bin", 1),
];
const SECTION_LIMIT: u64 = 64 * MIB;
const GO_SECTIONS: [&str; 2] = [".go.buildinfo", "__go_buildinfo"];

pub fn collect(ctx: &Context, out: &mut Collected) {
    for (pattern, depth) in SEARCH_ROOTS {
        for dir in expand_dirs(ctx.root, pattern) {
            let walk = WalkDir::new(&dir)
                .max_depth(depth)
                .follow_links(false)
                .sort_by_file_name();
            for (seen, entry) in walk.into_iter().enumerate() {
                if seen == MAX_WALK_ENTRIES {
                    out.errors
                        .push(FileError::new(relative(ctx.root, &dir), walk_stopped()));
                    break;
                }
                let Ok(entry) = entry else { continue };
                if !entry.file_type().is_file() {
                    continue;
                }
                let rel = relative(ctx.root, entry.path());
                if ctx.owned.owns(&rel) {
                    continue;
                }
                match read_binary(entry.path(), &rel) {
                    Ok(pkgs) => out.packages.extend(pkgs),
                    Err(e) => out.errors.push(FileError::new(rel, e)),
                }
            }
        }
    }
}

fn is_executable_magic(head: &[u8; 4]) -> bool {
    matches!(
        head,
        [0x7f, b'E', b'L', b'F']
            | [0xfe, 0xed, 0xfa, 0xce | 0xcf]
            | [0xce | 0xcf, 0xfa, 0xed, 0xfe]
            | [b'M', b'Z', _, _]
    )
}

/// Reads the packages a binary embeds; a file that is not an executable, or embeds nothing,
/// yields none.
pub fn read_binary(path: &Path, location: &str) -> Result<Vec<Package>, ParseError> {
    let mut file = File::open(path)?;
    let mut head = [0u8; 4];
    if file.read_exact(&mut head).is_err() || !is_executable_magic(&head) {
        return Ok(Vec::new());
    }
    let cache = ReadCache::new(file);
    let Ok(obj) = object::File::parse(&cache) else {
        // A truncated or foreign executable is not an inventory error: it embeds nothing we read.
        return Ok(Vec::new());
    };
    let section_bytes =
        |section: &object::Section<'_, '_, &ReadCache<File>>| -> Result<Vec<u8>, ParseError> {
            let size = section.size();
            if size > SECTION_LIMIT {
                return Err(ParseError::TooLarge {
                    size,
                    limit: SECTION_LIMIT,
                });
            }
            section.data().map(<[u8]>::to_vec).map_err(|e| {
                ParseError::format(format!("section {}: {e}", section.name().unwrap_or("?")))
            })
        };
    let mut packages = Vec::new();
    if let Some(section) = obj.section_by_name(cargo_auditable::SECTION) {
        packages.extend(cargo_auditable::parse_dep_v0(
            &section_bytes(&section)?,
            location,
        )?);
    }
    let go = GO_SECTIONS.iter().find_map(|n| obj.section_by_name(n));
    let go = match go {
        Some(s) => Some(section_bytes(&s)?),
        // PE binaries keep the build info in `.data`.
        None if obj.format() == object::BinaryFormat::Pe => match obj.section_by_name(".data") {
            Some(s) => {
                Some(section_bytes(&s)?).filter(|d| d.windows(14).any(|w| w == go_binary::MAGIC))
            }
            None => None,
        },
        None => None,
    };
    if let Some(bytes) = go {
        packages.extend(go_binary::parse_buildinfo(&bytes)?.packages(location)?);
    }
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::write::{Object as WriteObject, StandardSection};
    use object::{Architecture, BinaryFormat, Endianness, SectionKind};

    fn elf_with(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut obj = WriteObject::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
        let text = obj.section_id(StandardSection::Text);
        obj.append_section_data(text, &[0xc3], 1);
        for (name, data) in sections {
            let id = obj.add_section(
                Vec::new(),
                name.as_bytes().to_vec(),
                SectionKind::ReadOnlyData,
            );
            obj.append_section_data(id, data, 16);
        }
        obj.write().unwrap()
    }

    #[test]
    fn synthetic_elf_sections() {
        let dir = tempfile::tempdir().unwrap();
        let rust = dir.path().join("rust-tool");
        let compressed =
            cargo_auditable::tests::compress(cargo_auditable::tests::SAMPLE.as_bytes());
        std::fs::write(&rust, elf_with(&[(".dep-v0", &compressed)])).unwrap();
        let pkgs = read_binary(&rust, "usr/local/bin/rust-tool").unwrap();
        assert_eq!(
            pkgs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["serde"]
        );

        let go = dir.path().join("go-tool");
        let info = go_binary::tests::section(
            "go1.22.2",
            "path\tx\nmod\tx\t(devel)\t\ndep\tgithub.com/spf13/cobra\tv1.8.0\th1:a=",
        );
        std::fs::write(&go, elf_with(&[(".go.buildinfo", &info)])).unwrap();
        let pkgs = read_binary(&go, "usr/local/bin/go-tool").unwrap();
        let got: Vec<_> = pkgs
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            got,
            [("stdlib", "1.22.2"), ("github.com/spf13/cobra", "v1.8.0")]
        );

        let broken = dir.path().join("broken");
        std::fs::write(&broken, elf_with(&[(".dep-v0", b"not zlib")])).unwrap();
        assert!(read_binary(&broken, "b").is_err());
        let script = dir.path().join("script");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        assert_eq!(read_binary(&script, "s").unwrap(), Vec::new());
    }
}
