//! Lockfile readers: project files that pin every dependency, read into the same [`Package`]
//! type. Entries that pin nothing a vulnerability database can match (path and git
//! dependencies, unpinned requirements, workspace members) are returned as [`Skipped`].

use std::path::Path;

use crate::error::{FileError, ParseError};
use crate::limits::{MIB, read_text_bounded};
use crate::package::{LockfileKind, Package, Skipped};

pub mod cargo;
pub mod composer;
pub mod gemfile;
pub mod gomod;
pub mod package_lock;
pub mod poetry;
pub mod requirements;
pub mod yarn;

/// Lockfiles of big monorepos reach tens of MiB; past this one is not a lockfile.
pub const LOCKFILE_LIMIT: u64 = 64 * MIB;

/// What a lockfile lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockfileRead {
    pub kind: LockfileKind,
    pub packages: Vec<Package>,
    pub skipped: Vec<Skipped>,
}

impl LockfileRead {
    pub(crate) fn new(kind: LockfileKind) -> Self {
        LockfileRead {
            kind,
            packages: Vec::new(),
            skipped: Vec::new(),
        }
    }

    pub(crate) fn skip(
        &mut self,
        location: &str,
        line: Option<u64>,
        entry: impl Into<String>,
        reason: impl Into<String>,
    ) {
        self.skipped.push(Skipped {
            location: location.to_owned(),
            line,
            entry: entry.into(),
            reason: reason.into(),
        });
    }
}

/// The lockfile kind a file name says (`Cargo.lock`, `requirements-dev.txt`, ...).
pub fn kind_from_file_name(name: &str) -> Option<LockfileKind> {
    Some(match name {
        "package-lock.json" | "npm-shrinkwrap.json" => LockfileKind::PackageLock,
        "yarn.lock" => LockfileKind::YarnLock,
        "Cargo.lock" => LockfileKind::CargoLock,
        "poetry.lock" => LockfileKind::PoetryLock,
        "go.mod" => LockfileKind::GoMod,
        "Gemfile.lock" | "gems.locked" => LockfileKind::GemfileLock,
        "composer.lock" => LockfileKind::ComposerLock,
        n if n.starts_with("requirements") && n.ends_with(".txt") => LockfileKind::Requirements,
        _ => return None,
    })
}

/// Parses lockfile text of a known kind; `location` is what packages record as their location.
pub fn parse_lockfile(
    kind: LockfileKind,
    text: &str,
    location: &str,
) -> Result<LockfileRead, ParseError> {
    match kind {
        LockfileKind::PackageLock => package_lock::parse(text, location),
        LockfileKind::YarnLock => yarn::parse(text, location),
        LockfileKind::CargoLock => cargo::parse(text, location),
        LockfileKind::PoetryLock => poetry::parse(text, location),
        LockfileKind::Requirements => requirements::parse(text, location),
        LockfileKind::GoMod => gomod::parse(text, location),
        LockfileKind::GemfileLock => gemfile::parse(text, location),
        LockfileKind::ComposerLock => composer::parse(text, location),
    }
}

/// Reads a lockfile, its kind given or taken from the file name.
pub fn read_lockfile(path: &Path, kind: Option<LockfileKind>) -> Result<LockfileRead, FileError> {
    let location = path.to_string_lossy().into_owned();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kind = kind.or_else(|| kind_from_file_name(&name)).ok_or_else(|| {
        FileError::new(&location, ParseError::format("not a known lockfile name"))
    })?;
    read_text_bounded(path, LOCKFILE_LIMIT)
        .and_then(|text| parse_lockfile(kind, &text, &location))
        .map_err(|e| FileError::new(location, e))
}

/// The 1-based line of a byte offset, for errors of parsers that report spans.
pub(crate) fn line_of(text: &str, offset: usize) -> u64 {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count() as u64
        + 1
}

pub(crate) fn toml_error(text: &str, e: &toml::de::Error) -> ParseError {
    let message = e.message().to_owned();
    match e.span() {
        Some(span) => ParseError::line(line_of(text, span.start), message),
        None => ParseError::format(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_names() {
        assert_eq!(
            kind_from_file_name("requirements-dev.txt"),
            Some(LockfileKind::Requirements)
        );
        assert_eq!(
            kind_from_file_name("npm-shrinkwrap.json"),
            Some(LockfileKind::PackageLock)
        );
        assert_eq!(kind_from_file_name("package.json"), None);
    }
}
