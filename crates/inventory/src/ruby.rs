//! RubyGems: `specifications/*.gemspec` files, which RubyGems writes itself in a fixed shape
//! (`s.name = "rake".freeze`), so they are read as text, never evaluated.

use std::fs;

use crate::error::{FileError, ParseError};
use crate::fsroot::{expand_dirs, is_regular_file, relative};
use crate::limits::{MIB, read_text_bounded};
use crate::package::{Ecosystem, Manager, Package};
use crate::purl;
use crate::scan::{Collected, Context};

/// Gem installation directories' `specifications` folders (and their `default` gems).
pub const SEARCH_ROOTS: [&str; 11] = [
    "usr/lib/ruby/gems/*/specifications",
    "usr/local/lib/ruby/gems/*/specifications",
    "var/lib/gems/*/specifications",
    "usr/share/rubygems-integration/*/specifications",
    "usr/local/bundle/specifications",
    "root/.gem/ruby/*/specifications",
    "home/*/.gem/ruby/*/specifications",
    "root/.local/share/gem/ruby/*/specifications",
    "home/*/.local/share/gem/ruby/*/specifications",
    "root/.rbenv/versions/*/lib/ruby/gems/*/specifications",
    "home/*/.rbenv/versions/*/lib/ruby/gems/*/specifications",
];
pub const GEMSPEC_LIMIT: u64 = MIB;

pub fn collect(ctx: &Context, out: &mut Collected) {
    for pattern in SEARCH_ROOTS {
        for dir in expand_dirs(ctx.root, pattern) {
            for d in [dir.clone(), dir.join("default")] {
                let Ok(entries) = fs::read_dir(&d) else {
                    continue;
                };
                let mut paths: Vec<_> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "gemspec") && is_regular_file(p))
                    .collect();
                paths.sort();
                for path in paths {
                    let rel = relative(ctx.root, &path);
                    if ctx.owned.owns(&rel) {
                        continue;
                    }
                    match read_text_bounded(&path, GEMSPEC_LIMIT)
                        .and_then(|t| parse_gemspec(&t, &rel))
                    {
                        Ok(p) => out.packages.push(p),
                        Err(e) => out.errors.push(FileError::new(rel, e)),
                    }
                }
            }
        }
    }
}

/// The first string literal on a line: `"x"`, `'x'`, `%q{x}` or `%q(x)`.
fn string_literal(rhs: &str) -> Option<&str> {
    let rhs = rhs.trim_start();
    let rhs = rhs.strip_prefix("Gem::Version.new(").unwrap_or(rhs);
    for (open, close) in [
        ("\"", '"'),
        ("'", '\''),
        ("%q{", '}'),
        ("%q(", ')'),
        ("%q<", '>'),
    ] {
        if let Some(rest) = rhs.strip_prefix(open) {
            return rest.find(close).and_then(|end| rest.get(..end));
        }
    }
    None
}

/// Reads `name` and `version` assignments from a gemspec.
pub fn parse_gemspec(text: &str, location: &str) -> Result<Package, ParseError> {
    let (mut name, mut version) = (None, None);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let Some((lhs, rhs)) = line.split_once('=') else {
            continue;
        };
        let slot = match lhs.trim().rsplit_once('.') {
            Some((_, "name")) => &mut name,
            Some((_, "version")) => &mut version,
            _ => continue,
        };
        if slot.is_none() {
            let value = string_literal(rhs)
                .ok_or_else(|| ParseError::line(i as u64 + 1, "expected a string literal"))?;
            *slot = Some(value.to_owned());
        }
    }
    let name = name
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ParseError::missing("name"))?;
    let version = version
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ParseError::missing("version"))?;
    let purl = purl::build("gem", None, &name, &version, &[])?;
    Ok(Package::new(
        Ecosystem::RUBYGEMS,
        name,
        version,
        purl,
        Manager::Gem,
        location,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_gemspec() {
        let text = "# -*- encoding: utf-8 -*-\n# stub: rake 13.0.6 ruby lib\n\nGem::Specification.new do |s|\n  s.name = \"rake\".freeze\n  s.version = \"13.0.6\"\n\n  s.required_rubygems_version = Gem::Requirement.new(\">= 1.3.2\".freeze) if s.respond_to? :required_rubygems_version=\n  s.authors = [\"Hiroshi SHIBATA\".freeze]\nend\n";
        let p = parse_gemspec(text, "l").unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str(), p.purl.as_str()),
            ("rake", "13.0.6", "pkg:gem/rake@13.0.6")
        );
        let p = parse_gemspec(
            "spec.name = %q{json}\nspec.version = Gem::Version.new('2.6.1')\n",
            "l",
        )
        .unwrap();
        assert_eq!(p.version, "2.6.1");
        assert_eq!(
            parse_gemspec("s.name = nil\n", "l"),
            Err(ParseError::line(1, "expected a string literal"))
        );
    }
}
