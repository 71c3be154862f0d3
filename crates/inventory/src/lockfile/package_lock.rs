//! `package-lock.json` / `npm-shrinkwrap.json`: the `packages` map of lockfile v2/v3 (keyed by
//! install path), or the nested `dependencies` tree of v1.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::LockfileRead;
use crate::error::ParseError;
use crate::node::npm_purl;
use crate::package::{Ecosystem, LockfileKind, Manager, Package};

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    packages: Option<BTreeMap<String, Entry>>,
    #[serde(default)]
    dependencies: Option<BTreeMap<String, V1Entry>>,
}

/// A `packages` entry (v2, v3). Its `dependencies` are version ranges and are not read.
#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    resolved: Option<String>,
    #[serde(default)]
    link: bool,
}

/// A v1 `dependencies` entry, with the dependencies installed below it nested inside.
#[derive(Deserialize)]
struct V1Entry {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    resolved: Option<String>,
    #[serde(default)]
    dependencies: Option<BTreeMap<String, V1Entry>>,
}

const NODE_MODULES: &str = "node_modules/";

pub fn parse(text: &str, location: &str) -> Result<LockfileRead, ParseError> {
    let lock: Lock = serde_json::from_str(text)?;
    let mut out = LockfileRead::new(LockfileKind::PackageLock);
    let mut seen = BTreeSet::new();
    if let Some(packages) = lock.packages {
        for (path, entry) in packages {
            if path.is_empty() {
                continue;
            }
            let Some(pos) = path.rfind(NODE_MODULES) else {
                out.skip(location, None, path, "workspace package");
                continue;
            };
            let installed_as = path
                .get(pos + NODE_MODULES.len()..)
                .unwrap_or("")
                .to_owned();
            // An alias (`"x": "npm:y@1"`) is installed as x but is package y.
            let name = entry.name.clone().unwrap_or(installed_as);
            add(&mut out, &mut seen, location, name, &entry)?;
        }
    } else if let Some(deps) = lock.dependencies {
        walk_v1(deps, &mut out, &mut seen, location)?;
    } else {
        return Err(ParseError::field(
            "packages",
            "neither `packages` nor `dependencies` is present",
        ));
    }
    Ok(out)
}

fn walk_v1(
    deps: BTreeMap<String, V1Entry>,
    out: &mut LockfileRead,
    seen: &mut BTreeSet<(String, String)>,
    location: &str,
) -> Result<(), ParseError> {
    for (installed_as, v1) in deps {
        // v1 writes aliases as `"version": "npm:real-name@1.2.3"`.
        let alias = v1
            .version
            .as_deref()
            .and_then(|v| v.strip_prefix("npm:"))
            .and_then(|spec| spec.rsplit_once('@'))
            .filter(|(real, _)| !real.is_empty());
        let (name, version) = match alias {
            Some((real, v)) => (real.to_owned(), Some(v.to_owned())),
            None => (installed_as, v1.version),
        };
        let entry = Entry {
            name: None,
            version,
            resolved: v1.resolved,
            link: false,
        };
        add(out, seen, location, name, &entry)?;
        if let Some(nested) = v1.dependencies {
            walk_v1(nested, out, seen, location)?;
        }
    }
    Ok(())
}

fn add(
    out: &mut LockfileRead,
    seen: &mut BTreeSet<(String, String)>,
    location: &str,
    name: String,
    entry: &Entry,
) -> Result<(), ParseError> {
    let Some(version) = entry.version.clone().filter(|v| !v.is_empty()) else {
        let reason = if entry.link {
            "link to a local package"
        } else {
            "no version"
        };
        out.skip(location, None, name, reason);
        return Ok(());
    };
    if entry.link || version.starts_with("file:") {
        out.skip(
            location,
            None,
            format!("{name} {version}"),
            "link to a local package",
        );
        return Ok(());
    }
    // Git and tarball dependencies carry a URL-like version (v1) or a git `resolved` (v2+).
    let from_git = entry
        .resolved
        .as_deref()
        .is_some_and(|r| r.starts_with("git"));
    if from_git || !version.starts_with(|c: char| c.is_ascii_digit()) {
        out.skip(
            location,
            None,
            format!("{name} {version}"),
            "not a registry release (git, URL or tarball)",
        );
        return Ok(());
    }
    if seen.insert((name.clone(), version.clone())) {
        let purl = npm_purl(&name, &version)?;
        out.packages.push(Package::new(
            Ecosystem::NPM,
            name,
            version,
            purl,
            Manager::Lockfile(LockfileKind::PackageLock),
            location,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(r: &LockfileRead) -> Vec<String> {
        r.packages
            .iter()
            .map(|p| format!("{}@{}", p.name, p.version))
            .collect()
    }

    #[test]
    fn v3_packages_map() {
        let text = r#"{"name":"app","lockfileVersion":3,"packages":{"":{"name":"app","version":"1.0.0"},
          "node_modules/@types/node":{"version":"20.8.0","resolved":"https://registry.npmjs.org/@types/node/-/node-20.8.0.tgz","dev":true},
          "node_modules/a/node_modules/ms":{"version":"2.0.0"},
          "node_modules/ms":{"version":"2.1.3"},
          "node_modules/strip-ansi-cjs":{"name":"strip-ansi","version":"6.0.1"},
          "node_modules/lib":{"resolved":"packages/lib","link":true},
          "packages/lib":{"version":"0.0.1"}}}"#;
        let r = parse(text, "package-lock.json").unwrap();
        assert_eq!(
            names(&r),
            [
                "@types/node@20.8.0",
                "ms@2.0.0",
                "ms@2.1.3",
                "strip-ansi@6.0.1"
            ]
        );
        assert_eq!(r.skipped.len(), 2);
    }

    #[test]
    fn v1_nested_dependencies() {
        let text = r#"{"lockfileVersion":1,"dependencies":{"a":{"version":"1.0.0","dependencies":{"b":{"version":"2.0.0"}}},"c":{"version":"npm:d@3.0.0"},"e":{"version":"github:x/e#abc","from":"github:x/e"}}}"#;
        let r = parse(text, "package-lock.json").unwrap();
        assert_eq!(names(&r), ["a@1.0.0", "b@2.0.0", "d@3.0.0"]);
        assert_eq!(r.skipped[0].entry, "e github:x/e#abc");
        assert!(parse("{}", "l").is_err());
    }
}
