//! `go.mod`: `require` lines and blocks, with `replace` directives applied (a replacement by a
//! local directory makes the module unmatched: it is skipped).

use std::collections::BTreeMap;

use super::LockfileRead;
use crate::error::ParseError;
use crate::go_binary::go_purl;
use crate::package::{Ecosystem, LockfileKind, Manager, Package};

#[derive(Clone, Copy, PartialEq)]
enum Block {
    None,
    Require,
    Replace,
    Other,
}

enum Target {
    Module(String, String),
    Local(String),
}

pub fn parse(text: &str, location: &str) -> Result<LockfileRead, ParseError> {
    let mut requires: Vec<(u64, String, String)> = Vec::new();
    // Keyed by (path, version); an empty version replaces every version.
    let mut replaces: BTreeMap<(String, String), Target> = BTreeMap::new();
    let mut block = Block::None;
    for (i, raw) in text.lines().enumerate() {
        let n = i as u64 + 1;
        let line = raw.split("//").next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (directive, body) = if block != Block::None {
            if line == ")" {
                block = Block::None;
                continue;
            }
            (block, line)
        } else {
            let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let kind = match word {
                "require" => Block::Require,
                "replace" => Block::Replace,
                _ => Block::Other,
            };
            let rest = rest.trim();
            if rest == "(" {
                block = kind;
                continue;
            }
            (kind, rest)
        };
        match directive {
            Block::Require => {
                let mut parts = body.split_whitespace();
                let (Some(path), Some(version)) = (parts.next(), parts.next()) else {
                    return Err(ParseError::line(
                        n,
                        "require needs a module path and a version",
                    ));
                };
                requires.push((n, unquote(path).to_owned(), version.to_owned()));
            }
            Block::Replace => {
                let (old, new) = body
                    .split_once("=>")
                    .ok_or_else(|| ParseError::line(n, "replace without `=>`"))?;
                let mut old = old.split_whitespace();
                let old_path = old
                    .next()
                    .ok_or_else(|| ParseError::line(n, "replace without a module path"))?;
                let old_version = old.next().unwrap_or("");
                let mut new = new.split_whitespace();
                let new_path = unquote(
                    new.next()
                        .ok_or_else(|| ParseError::line(n, "replace without a target"))?,
                );
                let target = match new.next() {
                    Some(v) => Target::Module(new_path.to_owned(), v.to_owned()),
                    None => Target::Local(new_path.to_owned()),
                };
                replaces.insert(
                    (unquote(old_path).to_owned(), old_version.to_owned()),
                    target,
                );
            }
            Block::None | Block::Other => {}
        }
    }
    let mut out = LockfileRead::new(LockfileKind::GoMod);
    for (n, path, version) in requires {
        let target = replaces
            .get(&(path.clone(), version.clone()))
            .or_else(|| replaces.get(&(path.clone(), String::new())));
        let (path, version) = match target {
            Some(Target::Local(dir)) => {
                out.skip(
                    location,
                    Some(n),
                    format!("{path} {version}"),
                    format!("replaced by local directory {dir}"),
                );
                continue;
            }
            Some(Target::Module(p, v)) => (p.clone(), v.clone()),
            None => (path, version),
        };
        let purl = go_purl(&path, &version)?;
        out.packages.push(Package::new(
            Ecosystem::GO,
            path,
            version,
            purl,
            Manager::Lockfile(LockfileKind::GoMod),
            location,
        ));
    }
    Ok(out)
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_and_replaces() {
        let text = "module example.com/app\n\ngo 1.21\n\nrequire github.com/spf13/cobra v1.8.0\n\nrequire (\n\tgolang.org/x/net v0.17.0 // indirect\n\tgithub.com/old/lib v1.0.0\n\texample.com/local v0.0.0-00010101000000-000000000000\n)\n\nreplace github.com/old/lib => github.com/new/lib v1.2.0\n\nreplace (\n\texample.com/local => ../local\n)\n\nexclude golang.org/x/net v0.1.0\n";
        let r = parse(text, "go.mod").unwrap();
        let got: Vec<_> = r
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("github.com/spf13/cobra", "v1.8.0"),
                ("golang.org/x/net", "v0.17.0"),
                ("github.com/new/lib", "v1.2.0")
            ]
        );
        assert_eq!(r.skipped[0].reason, "replaced by local directory ../local");
        assert_eq!(
            parse("require (\n  lonely\n)\n", "l"),
            Err(ParseError::line(
                2,
                "require needs a module path and a version"
            ))
        );
    }
}
