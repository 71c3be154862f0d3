//! `requirements.txt`: a line pins a package when its only version clause is `==X` (or `===X`).
//! Everything else (ranges, URLs, editable installs, includes) is reported as skipped.

use super::LockfileRead;
use crate::error::ParseError;
use crate::package::{Ecosystem, LockfileKind, Manager, Package};
use crate::purl;

pub fn parse(text: &str, location: &str) -> Result<LockfileRead, ParseError> {
    let mut out = LockfileRead::new(LockfileKind::Requirements);
    let mut logical = String::new();
    let mut start = 0u64;
    for (i, raw) in text.lines().enumerate() {
        let n = i as u64 + 1;
        if logical.is_empty() {
            start = n;
        }
        // A `#` starts a comment at the line start or after whitespace (URLs keep `#egg=`).
        let line = match raw.find(" #").or_else(|| raw.starts_with('#').then_some(0)) {
            Some(pos) => raw.get(..pos).unwrap_or(""),
            None => raw,
        };
        if let Some(cont) = line.trim_end().strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let entry = std::mem::take(&mut logical);
        requirement(entry.trim(), start, location, &mut out)?;
    }
    let rest = std::mem::take(&mut logical);
    requirement(rest.trim(), start, location, &mut out)?;
    Ok(out)
}

fn requirement(
    line: &str,
    n: u64,
    location: &str,
    out: &mut LockfileRead,
) -> Result<(), ParseError> {
    if line.is_empty() {
        return Ok(());
    }
    if line.starts_with('-') {
        out.skip(
            location,
            Some(n),
            line,
            "option line (include, index or editable install)",
        );
        return Ok(());
    }
    // Drop environment markers and per-requirement options such as `--hash=sha256:...`.
    let spec = line.split(';').next().unwrap_or("");
    let spec = spec.split(" --").next().unwrap_or("").trim();
    let name_end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(spec.len());
    let (name, mut rest) = spec.split_at(name_end);
    if name.is_empty()
        || spec.starts_with(['.', '/'])
        || (spec.contains("://") && !spec.contains('@'))
    {
        out.skip(
            location,
            Some(n),
            line,
            "not a package requirement (path or URL)",
        );
        return Ok(());
    }
    rest = rest.trim_start();
    if let Some(after) = rest.strip_prefix('[') {
        rest = after
            .split_once(']')
            .map(|(_, r)| r.trim_start())
            .ok_or_else(|| ParseError::line(n, "unclosed extras `[`"))?;
    }
    if rest.starts_with('@') {
        out.skip(location, Some(n), line, "direct URL reference");
        return Ok(());
    }
    let version = rest
        .strip_prefix("===")
        .or_else(|| rest.strip_prefix("=="))
        .map(str::trim);
    match version {
        Some(v) if !v.is_empty() && !v.contains([',', '*', '<', '>', '=', '!', '~', ' ']) => {
            let purl = purl::build("pypi", None, name, v, &[])?;
            out.packages.push(Package::new(
                Ecosystem::PYPI,
                name,
                v,
                purl,
                Manager::Lockfile(LockfileKind::Requirements),
                location,
            ));
        }
        _ => out.skip(location, Some(n), line, "not pinned with =="),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_and_skipped() {
        let text = "# comment\nrequests==2.31.0  # pinned\nDjango[argon2]==4.2.7 ; python_version >= \"3.8\"\nflask>=2.0\nnumpy==1.*\nurllib3==2.0.7 \\\n    --hash=sha256:c97dfde1f7bd43a71c8d2a58e369e9b2bf692d1334ea9f9cae55add7d0dd0f84\n-r base.txt\n-e git+https://github.com/a/b.git#egg=b\npkg @ https://example.invalid/pkg.whl\n./local/dir\nidna===3.4\n";
        let r = parse(text, "requirements.txt").unwrap();
        let got: Vec<_> = r
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("requests", "2.31.0"),
                ("Django", "4.2.7"),
                ("urllib3", "2.0.7"),
                ("idna", "3.4")
            ]
        );
        let skipped: Vec<_> = r
            .skipped
            .iter()
            .map(|s| (s.line, s.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                (Some(4), "not pinned with =="),
                (Some(5), "not pinned with =="),
                (Some(8), "option line (include, index or editable install)"),
                (Some(9), "option line (include, index or editable install)"),
                (Some(10), "direct URL reference"),
                (Some(11), "not a package requirement (path or URL)"),
            ]
        );
        assert_eq!(
            parse("a[b==1\n", "l"),
            Err(ParseError::line(1, "unclosed extras `[`"))
        );
    }
}
