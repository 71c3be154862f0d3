//! npm: every `node_modules/<name>/package.json` and `node_modules/@scope/<name>/package.json`
//! under known global and application locations, nested `node_modules` included.

use std::fs;
use std::path::Path;

use serde::Deserialize;

use crate::error::{FileError, ParseError};
use crate::fsroot::{expand_dirs, is_real_dir, is_regular_file, relative};
use crate::limits::{MIB, read_bounded};
use crate::package::{Ecosystem, Manager, Package};
use crate::purl;
use crate::scan::{Collected, Context};

/// Directories that are `node_modules` trees: global installs (system, nvm, npm prefix) and the
/// usual application directories of container images.
pub const SEARCH_ROOTS: [&str; 12] = [
    "usr/lib/node_modules",
    "usr/local/lib/node_modules",
    "opt/*/node_modules",
    "opt/*/lib/node_modules",
    "root/.npm-global/lib/node_modules",
    "home/*/.npm-global/lib/node_modules",
    "root/.nvm/versions/node/*/lib/node_modules",
    "home/*/.nvm/versions/node/*/lib/node_modules",
    "app/node_modules",
    "usr/src/app/node_modules",
    "srv/*/node_modules",
    "var/www/*/node_modules",
];
pub const PACKAGE_JSON_LIMIT: u64 = MIB;
/// Real trees nest a dozen levels at most; a deeper one is a loop or hostile.
const MAX_DEPTH: usize = 64;

pub fn collect(ctx: &Context, out: &mut Collected) {
    for pattern in SEARCH_ROOTS {
        for dir in expand_dirs(ctx.root, pattern) {
            walk_node_modules(ctx, &dir, 0, out);
        }
    }
}

fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Reads every package in one `node_modules` directory, then their own `node_modules`.
pub fn walk_node_modules(ctx: &Context, dir: &Path, depth: usize, out: &mut Collected) {
    if depth > MAX_DEPTH {
        return;
    }
    for name in sorted_names(dir) {
        let path = dir.join(&name);
        if name.starts_with('@') {
            for inner in sorted_names(&path) {
                read_package_dir(ctx, &path.join(inner), depth, out);
            }
        } else {
            read_package_dir(ctx, &path, depth, out);
        }
    }
}

fn read_package_dir(ctx: &Context, dir: &Path, depth: usize, out: &mut Collected) {
    if !is_real_dir(dir) {
        return;
    }
    let manifest = dir.join("package.json");
    let rel = relative(ctx.root, &manifest);
    if is_regular_file(&manifest) && !ctx.owned.owns(&rel) {
        match read_bounded(&manifest, PACKAGE_JSON_LIMIT).and_then(|b| parse_package_json(&b, &rel))
        {
            Ok(p) => out.packages.push(p),
            Err(e) => out.errors.push(FileError::new(rel, e)),
        }
    }
    let nested = dir.join("node_modules");
    if is_real_dir(&nested) {
        walk_node_modules(ctx, &nested, depth + 1, out);
    }
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

/// Reads `name` and `version` from a `package.json`.
pub fn parse_package_json(bytes: &[u8], location: &str) -> Result<Package, ParseError> {
    let m: Manifest = serde_json::from_slice(bytes)?;
    let name = m
        .name
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ParseError::missing("name"))?;
    let version = m
        .version
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ParseError::missing("version"))?;
    Ok(Package::new(
        Ecosystem::NPM,
        name.clone(),
        version.clone(),
        npm_purl(&name, &version)?,
        Manager::Npm,
        location,
    ))
}

/// `@scope/name` becomes namespace `@scope` (purl spec: the `@` is percent-encoded).
pub(crate) fn npm_purl(name: &str, version: &str) -> Result<String, ParseError> {
    match name.split_once('/') {
        Some((scope, bare)) if scope.starts_with('@') => {
            purl::build("npm", Some(scope), bare, version, &[])
        }
        _ => purl::build("npm", None, name, version, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_json() {
        let p = parse_package_json(
            br#"{"name":"@babel/core","version":"7.23.0","dependencies":{"a":"1"}}"#,
            "l",
        )
        .unwrap();
        assert_eq!(
            (p.name.as_str(), p.purl.as_str()),
            ("@babel/core", "pkg:npm/%40babel/core@7.23.0")
        );
        assert_eq!(
            parse_package_json(br#"{"name":"x"}"#, "l"),
            Err(ParseError::missing("version"))
        );
        assert!(matches!(
            parse_package_json(b"{\"name\":", "l"),
            Err(ParseError::Line { line: 1, .. })
        ));
    }
}
