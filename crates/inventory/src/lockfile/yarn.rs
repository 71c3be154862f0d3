//! `yarn.lock`, both the v1 format (`version "1.2.3"`) and berry's YAML (`version: 1.2.3`,
//! `resolution: "name@npm:1.2.3"`, a `__metadata` entry). Read line by line: each unindented
//! line is an entry's key list, the indented lines under it are its fields.

use std::collections::BTreeSet;

use super::LockfileRead;
use crate::error::ParseError;
use crate::node::npm_purl;
use crate::package::{Ecosystem, LockfileKind, Manager, Package};

struct Entry {
    line: u64,
    key: String,
    version: Option<String>,
    resolution: Option<String>,
}

pub fn parse(text: &str, location: &str) -> Result<LockfileRead, ParseError> {
    let mut out = LockfileRead::new(LockfileKind::YarnLock);
    let mut seen = BTreeSet::new();
    let mut current: Option<Entry> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            if let Some(e) = current.take() {
                finish(e, location, &mut out, &mut seen)?;
            }
            let key = line
                .trim_end()
                .strip_suffix(':')
                .ok_or_else(|| ParseError::line(n, "entry key without `:`"))?;
            current = Some(Entry {
                line: n,
                key: key.to_owned(),
                version: None,
                resolution: None,
            });
            continue;
        }
        let Some(entry) = current.as_mut() else {
            return Err(ParseError::line(n, "indented line before any entry"));
        };
        // Only the entry's own fields (two spaces), not nested maps like `dependencies:`.
        let Some(field) = line.strip_prefix("  ").filter(|f| !f.starts_with(' ')) else {
            continue;
        };
        let (k, v) = match field.split_once(": ") {
            Some((k, v)) => (k, v),
            None => match field.split_once(' ') {
                Some((k, v)) => (k, v),
                None => continue,
            },
        };
        let v = unquote(v.trim());
        match k.trim_matches('"') {
            "version" => entry.version = Some(v.to_owned()),
            "resolution" => entry.resolution = Some(v.to_owned()),
            _ => {}
        }
    }
    if let Some(e) = current.take() {
        finish(e, location, &mut out, &mut seen)?;
    }
    Ok(out)
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

/// `name@range` -> (`name`, `range`), scoped names (`@scope/name@range`) included.
fn split_descriptor(d: &str) -> Option<(&str, &str)> {
    let at = d.get(1..)?.find('@')? + 1;
    Some((d.get(..at)?, d.get(at + 1..)?))
}

fn finish(
    e: Entry,
    location: &str,
    out: &mut LockfileRead,
    seen: &mut BTreeSet<(String, String)>,
) -> Result<(), ParseError> {
    if e.key == "__metadata" {
        return Ok(());
    }
    let first = e
        .key
        .split(", ")
        .next()
        .map(|s| s.trim_matches('"'))
        .unwrap_or("");
    // Berry's resolution names the package actually installed; v1 only has the descriptors.
    let descriptor = e.resolution.as_deref().unwrap_or(first);
    let Some((mut name, range)) = split_descriptor(descriptor) else {
        return Err(ParseError::line(
            e.line,
            format!("cannot read a package name from `{descriptor}`"),
        ));
    };
    if let Some(alias) = range.strip_prefix("npm:").and_then(split_descriptor) {
        name = alias.0;
    }
    let protocol = range.split_once(':').map(|(p, _)| p);
    if let Some(p) = protocol.filter(|p| !matches!(*p, "npm" | "patch")) {
        let known_local = matches!(p, "workspace" | "link" | "portal" | "file" | "exec");
        // v1 ranges such as `^1.2.3` have no protocol; `git+https:` and `https:` are sources.
        if known_local || p.starts_with("git") || p.starts_with("http") || p.starts_with("github") {
            out.skip(
                location,
                Some(e.line),
                descriptor,
                format!("{p}: dependency, not a registry release"),
            );
            return Ok(());
        }
    }
    let Some(version) = e.version.filter(|v| !v.is_empty()) else {
        return Err(ParseError::line(
            e.line,
            format!("entry `{}` has no version", e.key),
        ));
    };
    if seen.insert((name.to_owned(), version.clone())) {
        let purl = npm_purl(name, &version)?;
        out.packages.push(Package::new(
            Ecosystem::NPM,
            name,
            version,
            purl,
            Manager::Lockfile(LockfileKind::YarnLock),
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
    fn classic_v1() {
        let text = "# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.\n# yarn lockfile v1\n\n\n\"@babel/code-frame@^7.0.0\", \"@babel/code-frame@^7.10.4\":\n  version \"7.22.13\"\n  resolved \"https://registry.yarnpkg.com/@babel/code-frame/-/code-frame-7.22.13.tgz#e3c1c099\"\n  integrity sha512-XktuhWlJ5g+3TJXc5upd9Ks1HutSArik6jf2eAjYFyIOf4ej3RN+184cZbzDvbPnuTJIUhPKKJE3cIsYTiAT3w==\n  dependencies:\n    \"@babel/highlight\" \"^7.22.13\"\n    version \"0.0.0-not-a-field\"\n\nlodash@^4.17.21:\n  version \"4.17.21\"\n\n\"string-width-cjs@npm:string-width@^4.2.0\":\n  version \"4.2.3\"\n\nmylib@file:../mylib:\n  version \"0.0.1\"\n";
        let r = parse(text, "yarn.lock").unwrap();
        assert_eq!(
            names(&r),
            [
                "@babel/code-frame@7.22.13",
                "lodash@4.17.21",
                "string-width@4.2.3"
            ]
        );
        assert_eq!(r.skipped.len(), 1);
    }

    #[test]
    fn berry() {
        let text = "# This file is generated by running \"yarn install\" inside your project.\n\n__metadata:\n  version: 8\n  cacheKey: 10c0\n\n\"@babel/core@npm:^7.12.3, @babel/core@npm:^7.23.0\":\n  version: 7.23.2\n  resolution: \"@babel/core@npm:7.23.2\"\n  dependencies:\n    \"@babel/types\": \"npm:^7.23.0\"\n  checksum: 10c0/b69d7008\n  languageName: node\n  linkType: hard\n\n\"app@workspace:.\":\n  version: 0.0.0-use.local\n  resolution: \"app@workspace:.\"\n\n\"resolve@patch:resolve@npm%3A^1.20.0#optional!builtin<compat/resolve>\":\n  version: 1.22.8\n  resolution: \"resolve@patch:resolve@npm%3A1.22.8#optional!builtin<compat/resolve>::version=1.22.8&hash=c3c19d\"\n";
        let r = parse(text, "yarn.lock").unwrap();
        assert_eq!(names(&r), ["@babel/core@7.23.2", "resolve@1.22.8"]);
        assert_eq!(
            r.skipped[0].reason,
            "workspace: dependency, not a registry release"
        );
        assert_eq!(
            parse("a@1:\n", "l"),
            Err(ParseError::line(1, "entry `a@1` has no version"))
        );
        assert_eq!(
            parse("  version 1\n", "l"),
            Err(ParseError::line(1, "indented line before any entry"))
        );
    }
}
