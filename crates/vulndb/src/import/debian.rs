//! The Debian security tracker's own text formats: `DSA-list` / `DLA-list` (fixed source-package
//! versions per release), `CPE-list` (source package -> CPE) and `CPE-aliases`.
//!
//! ```text
//! [29 Mar 2023] DSA-5380-1 xorg-server - security update
//!     {CVE-2023-1393}
//!     [bullseye] - xorg-server 2:1.20.11-1+deb11u6
//!     [lenny] - openoffice.org <not-affected> (Vulnerable code not present)
//! ```

use std::path::Path;

use super::{Batch, ImportError, limits, read_document};
use crate::advisory::{
    Advisory, Affected, AffectedStatus, RangeEvent, RangeKind, RangeSpec, Source,
};
use crate::cpe::Cpe;
use crate::names;

fn lines(path: &Path) -> Result<String, ImportError> {
    let bytes = read_document(path)?;
    String::from_utf8(bytes).map_err(|e| ImportError::Format {
        path: path.to_owned(),
        message: format!("not UTF-8: {e}"),
    })
}

fn month(m: &str) -> Option<&'static str> {
    Some(match m {
        "Jan" => "01",
        "Feb" => "02",
        "Mar" => "03",
        "Apr" => "04",
        "May" => "05",
        "Jun" => "06",
        "Jul" => "07",
        "Aug" => "08",
        "Sep" => "09",
        "Oct" => "10",
        "Nov" => "11",
        "Dec" => "12",
        _ => return None,
    })
}

/// `29 Mar 2023` -> `2023-03-29`.
fn iso_date(d: &str) -> Option<String> {
    let mut it = d.split_whitespace();
    let (day, mon, year) = (it.next()?, it.next()?, it.next()?);
    let day: u32 = day.parse().ok()?;
    Some(format!("{year}-{}-{day:02}", month(mon)?))
}

/// Parses a `[release] - package version|<status> (note)` line into an affected entry.
fn release_line(line: &str) -> Result<Affected, String> {
    let rest = line
        .strip_prefix('[')
        .ok_or("release line does not start with `[`")?;
    let (release, rest) = rest.split_once(']').ok_or("release line without `]`")?;
    let rest = rest
        .trim_start()
        .strip_prefix('-')
        .ok_or("release line without ` - `")?
        .trim();
    let mut words = rest.split_whitespace();
    let package = words.next().ok_or("release line without a package")?;
    let what = words
        .next()
        .ok_or("release line without a version or status")?;
    let number = names::debian_release_number(release);
    let ecosystem = format!("Debian:{}", number.unwrap_or(release));
    let mut aff = Affected::new(ecosystem, package);
    match what {
        "<not-affected>" => aff.status = AffectedStatus::NotAffected,
        "<end-of-life>" | "<no-dsa>" | "<ignored>" | "<postponed>" => {
            aff.status = AffectedStatus::WillNotFix
        }
        "<unfixed>" => aff.ranges.push(RangeSpec {
            kind: RangeKind::Ecosystem,
            events: vec![RangeEvent::Introduced("0".into())],
        }),
        v if v.starts_with('<') => return Err(format!("unknown status {v}")),
        version => aff.ranges.push(RangeSpec {
            kind: RangeKind::Ecosystem,
            events: vec![
                RangeEvent::Introduced("0".into()),
                RangeEvent::Fixed(version.to_owned()),
            ],
        }),
    }
    Ok(aff)
}

/// Parses a whole DSA or DLA list.
pub fn parse_list(text: &str, source: Source, path: &Path, batch: &mut Batch) {
    let mut current: Option<Advisory> = None;
    for (n, line) in text.lines().enumerate() {
        let lineno = n + 1;
        if line.len() > limits::MAX_LINE_BYTES {
            batch.record_error(path, format!("line {lineno}"), "line longer than the limit");
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            if let Some(adv) = current.take() {
                batch.advisories.push(adv);
            }
            let Some((date, rest)) = header.split_once(']') else {
                batch.record_error(path, format!("line {lineno}"), "header without `]`");
                continue;
            };
            let rest = rest.trim();
            let (id, title) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            if !(id.starts_with("DSA-") || id.starts_with("DLA-") || id.starts_with("DTSA-")) {
                batch.record_error(
                    path,
                    format!("line {lineno}"),
                    format!("header id {id:?} is not a DSA/DLA id"),
                );
                continue;
            }
            let mut adv = Advisory::new(id, source);
            adv.published = iso_date(date);
            adv.summary = title.trim().to_owned();
            current = Some(adv);
            continue;
        }
        let body = line.trim();
        if body.is_empty() {
            continue;
        }
        let Some(adv) = current.as_mut() else {
            batch.record_error(
                path,
                format!("line {lineno}"),
                "text before the first advisory header",
            );
            continue;
        };
        if let Some(ids) = body.strip_prefix('{') {
            for id in ids.trim_end_matches('}').split_whitespace() {
                if id.starts_with("CVE-") && !adv.fixes.iter().any(|f| f == id) {
                    adv.fixes.push(id.to_owned());
                }
            }
        } else if body.starts_with('[') {
            match release_line(body) {
                Ok(aff) => adv.affected.push(aff),
                Err(msg) => {
                    let id = adv.id.clone();
                    batch.record_error(path, format!("{id} (line {lineno})"), msg);
                }
            }
        } else if let Some(note) = body.strip_prefix("NOTE:") {
            if !adv.details.is_empty() {
                adv.details.push('\n');
            }
            adv.details.push_str(note.trim());
        }
    }
    if let Some(adv) = current {
        batch.advisories.push(adv);
    }
}

pub fn import_list(path: &Path, source: Source, batch: &mut Batch) -> Result<(), ImportError> {
    let text = lines(path)?;
    parse_list(&text, source, path, batch);
    Ok(())
}

/// `package;cpe:/a:vendor:product` lines.
pub fn import_cpe_list(path: &Path, batch: &mut Batch) -> Result<(), ImportError> {
    let text = lines(path)?;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((pkg, cpe)) = line.split_once(';') else {
            batch.record_error(
                path,
                format!("line {}", n + 1),
                "no `;` between package and CPE",
            );
            continue;
        };
        // The tracker's list has a stray doubled separator (`shellinabox;;cpe:/…`).
        let cpe = cpe.trim_start_matches(';');
        // An empty CPE means "checked, no CPE exists"; nothing to map.
        if cpe.trim().is_empty() {
            continue;
        }
        match Cpe::parse(cpe.trim()) {
            Ok(c) => batch
                .debian_cpe
                .push((pkg.trim().to_owned(), c.vendor_product())),
            Err(e) => batch.record_error(path, pkg.trim(), e),
        }
    }
    Ok(())
}

/// Blank-line separated groups of CPE names that denote one product.
pub fn import_cpe_aliases(path: &Path, batch: &mut Batch) -> Result<(), ImportError> {
    let text = lines(path)?;
    let mut group: Vec<String> = Vec::new();
    for (n, line) in text.lines().chain(std::iter::once("")).enumerate() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            if group.len() > 1 {
                batch.cpe_aliases.push(std::mem::take(&mut group));
            }
            group.clear();
            continue;
        }
        match Cpe::parse(line) {
            Ok(c) => group.push(c.vendor_product()),
            Err(e) => batch.record_error(path, format!("line {}", n + 1), e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_advisories_statuses_and_garbage() {
        let text = "[07 Jul 2011] DSA-2275-1 openoffice.org - buffer overflow\n\t{CVE-2011-2685}\n\t[squeeze] - openoffice.org 1:3.2.1-11+squeeze3\n\t[lenny] - openoffice.org <not-affected> (Vulnerable code not present)\n\t[jessie] - openoffice.org <bogus>\nstray\n[18 Apr 2018] DSA-4205-1 jessie end-of-life\n\tNOTE: end of security support for jessie\n";
        let mut batch = Batch::default();
        parse_list(text, Source::DebianDsa, Path::new("DSA-list"), &mut batch);
        assert_eq!(batch.advisories.len(), 2);
        let a = &batch.advisories[0];
        assert_eq!(a.id, "DSA-2275-1");
        assert_eq!(a.published.as_deref(), Some("2011-07-07"));
        assert_eq!(a.fixes, vec!["CVE-2011-2685"]);
        assert_eq!(a.affected.len(), 2);
        assert_eq!(a.affected[0].ecosystem, "Debian:6");
        assert_eq!(
            a.affected[0].ranges[0].fixed_versions().collect::<Vec<_>>(),
            vec!["1:3.2.1-11+squeeze3"]
        );
        assert_eq!(a.affected[1].ecosystem, "Debian:5");
        assert_eq!(a.affected[1].status, AffectedStatus::NotAffected);
        assert_eq!(
            batch.advisories[1].details,
            "end of security support for jessie"
        );
        assert_eq!(batch.errors.len(), 1, "{:?}", batch.errors);
        assert!(batch.errors[0].record.starts_with("DSA-2275-1"));
        assert!(batch.errors[0].message.contains("<bogus>"));
    }
}
