//! `Gemfile.lock`: the `specs:` of `GEM` sections are RubyGems releases; those of `GIT` and
//! `PATH` sections are not and are skipped.

use super::LockfileRead;
use crate::error::ParseError;
use crate::package::{Ecosystem, LockfileKind, Manager, Package};
use crate::purl;

pub fn parse(text: &str, location: &str) -> Result<LockfileRead, ParseError> {
    let mut out = LockfileRead::new(LockfileKind::GemfileLock);
    let mut section = "";
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            section = line.trim();
            continue;
        }
        if !matches!(section, "GEM" | "GIT" | "PATH" | "PLUGIN SOURCE") {
            continue;
        }
        // Specs are indented four spaces; their own dependencies six.
        let Some(spec) = line.strip_prefix("    ").filter(|s| !s.starts_with(' ')) else {
            continue;
        };
        let (name, version) = spec
            .split_once(" (")
            .and_then(|(name, rest)| rest.strip_suffix(')').map(|v| (name, v)))
            .ok_or_else(|| ParseError::line(n, "expected `name (version)`"))?;
        // `1.15.4-x86_64-linux`: RubyGems versions never contain `-`, platforms follow one.
        let version = version.split('-').next().unwrap_or(version);
        if section != "GEM" {
            out.skip(
                location,
                Some(n),
                format!("{name} {version}"),
                format!("from a {section} source, not rubygems.org"),
            );
            continue;
        }
        let purl = purl::build("gem", None, name, version, &[])?;
        out.packages.push(Package::new(
            Ecosystem::RUBYGEMS,
            name,
            version,
            purl,
            Manager::Lockfile(LockfileKind::GemfileLock),
            location,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gem_and_git_sections() {
        let text = "GIT\n  remote: https://github.com/rails/rails.git\n  revision: abc\n  specs:\n    rails (7.1.0.alpha)\n      actioncable (= 7.1.0.alpha)\n\nGEM\n  remote: https://rubygems.org/\n  specs:\n    nokogiri (1.15.4-x86_64-linux)\n      racc (~> 1.4)\n    racc (1.7.1)\n\nPLATFORMS\n  x86_64-linux\n\nDEPENDENCIES\n  nokogiri\n\nBUNDLED WITH\n   2.4.10\n";
        let r = parse(text, "Gemfile.lock").unwrap();
        let got: Vec<_> = r
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(got, [("nokogiri", "1.15.4"), ("racc", "1.7.1")]);
        assert_eq!(r.skipped[0].entry, "rails 7.1.0.alpha");
        assert_eq!(
            parse("GEM\n  specs:\n    broken\n", "l"),
            Err(ParseError::line(3, "expected `name (version)`"))
        );
    }
}
