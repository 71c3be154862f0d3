//! Alpine secdb documents (`v3.N/main.json`, as served by secdb.alpinelinux.org), singly or as a
//! zip of them. One advisory per (release, origin package, CVE), id `ALPINE-v3.N-<pkg>-<CVE>`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{Batch, ImportError, json_str, limits, null_as_default, read_bounded, read_document};
use crate::advisory::{
    Advisory, Affected, AffectedStatus, RangeEvent, RangeKind, RangeSpec, Source,
};
use crate::names;

#[derive(Deserialize)]
struct SecDb {
    distroversion: String,
    #[serde(default, deserialize_with = "null_as_default")]
    reponame: String,
    #[serde(default, deserialize_with = "null_as_default")]
    packages: Vec<Value>,
}

/// The first identifier in a secfixes entry (`CVE-2019-1000 (partial)`, `XSA-123`,
/// `wnpa-sec-2017-19`); also reads the real quirks `CVE-????-?????  XSA-295` (placeholder, then
/// the id) and `CVE 2018-16859` (space for dash).
fn entry_id(entry: &str) -> Option<String> {
    let words: Vec<&str> = entry.split_whitespace().collect();
    if let [cve, rest, ..] = words.as_slice()
        && cve.eq_ignore_ascii_case("CVE")
        && rest.chars().next().is_some_and(|c| c.is_ascii_digit())
    {
        return Some(format!("CVE-{rest}"));
    }
    words
        .into_iter()
        .find(|w| {
            w.contains('-')
                && w.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && w.chars().any(|c| c.is_ascii_digit())
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
        .map(str::to_owned)
}

pub fn parse_document(bytes: &[u8], path: &Path, member: &str, batch: &mut Batch) {
    let db: SecDb = match serde_json::from_slice(bytes) {
        Ok(db) => db,
        Err(e) => return batch.record_error(path, member, e),
    };
    let release = names::normalize_release("alpine", &db.distroversion);
    let ecosystem = format!("Alpine:{release}");
    for (i, pkg) in db.packages.iter().enumerate() {
        let pkg = pkg.get("pkg").unwrap_or(pkg);
        let Some(name) = pkg.get("name").and_then(Value::as_str) else {
            batch.record_error(
                path,
                format!("{member} packages[{i}]"),
                "field `pkg.name`: missing or not a string",
            );
            continue;
        };
        let Some(secfixes) = pkg.get("secfixes").and_then(Value::as_object) else {
            continue;
        };
        // (CVE) -> fixed versions, in document order; "0" means never affected.
        let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (version, ids) in secfixes {
            let Some(ids) = ids.as_array() else {
                batch.field_warning(
                    path,
                    format!("{member} {name} {version}"),
                    "field `secfixes`: not a list",
                );
                continue;
            };
            for entry in ids {
                let text = json_str(entry).unwrap_or_default();
                match entry_id(&text) {
                    Some(id) => by_id.entry(id).or_default().push(version.clone()),
                    None => batch.field_warning(
                        path,
                        format!("{member} {name} {version}"),
                        format!("unreadable fix entry {text:?}"),
                    ),
                }
            }
        }
        for (id, versions) in by_id {
            let mut adv =
                Advisory::new(format!("ALPINE-{release}-{name}-{id}"), Source::AlpineSecdb);
            adv.aliases.push(id.clone());
            adv.summary = format!("{name} in Alpine {release} ({}): {id}", db.reponame);
            let mut aff = Affected::new(ecosystem.clone(), name);
            // A CVE listed under several versions of one release was fixed on several branches
            // (a backport and a later upgrade); the release's package carries the earliest fix.
            let earliest = versions.into_iter().filter(|v| v != "0").min_by(|a, b| {
                zerotrace_version::compare(&zerotrace_version::Ecosystem::Alpine, a, b)
                    .unwrap_or_else(|_| a.cmp(b))
            });
            match earliest {
                None => aff.status = AffectedStatus::NotAffected,
                Some(v) => aff.ranges.push(RangeSpec {
                    kind: RangeKind::Ecosystem,
                    events: vec![RangeEvent::Introduced("0".into()), RangeEvent::Fixed(v)],
                }),
            }
            adv.affected.push(aff);
            batch.advisories.push(adv);
        }
    }
}

pub fn import_json_file(path: &Path, batch: &mut Batch) -> Result<(), ImportError> {
    let bytes = read_document(path)?;
    parse_document(&bytes, path, "document", batch);
    Ok(())
}

pub fn import_zip(path: &Path, batch: &mut Batch) -> Result<(), ImportError> {
    let file = super::open(path)?;
    let mut archive =
        zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|source| ImportError::Zip {
            path: path.to_owned(),
            source,
        })?;
    for i in 0..archive.len().min(limits::MAX_ZIP_MEMBERS) {
        let mut member = match archive.by_index(i) {
            Ok(m) => m,
            Err(e) => {
                batch.record_error(path, format!("member #{i}"), e);
                continue;
            }
        };
        let name = String::from_utf8_lossy(member.name_raw()).into_owned();
        if member.is_dir() || !name.ends_with(".json") {
            continue;
        }
        match read_bounded(&mut member, limits::MAX_MEMBER_BYTES, path) {
            Ok(bytes) => parse_document(&bytes, path, &name, batch),
            Err(e) => batch.record_error(path, name, e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secfixes_become_advisories() {
        let doc = br#"{"distroversion":"v3.11","reponame":"main","packages":[
            {"pkg":{"name":"openssl","secfixes":{"1.1.1d-r2":["CVE-2019-1547"],"0":["CVE-2000-1"],"1.1.1g-r0":["CVE-2020-1967 (partial)"]}}},
            {"pkg":{"secfixes":{}}},
            {"pkg":{"name":"x","secfixes":{"1-r0":"CVE-1"}}},
            {"pkg":{"name":"xen","secfixes":{"4.12.1-r0":["CVE-????-?????  XSA-295", "CVE 2018-16859", "???"]}}}]}"#;
        let mut batch = Batch::default();
        parse_document(doc, Path::new("secdb.zip"), "v3.11/main.json", &mut batch);
        let ids: Vec<_> = batch
            .advisories
            .iter()
            .filter(|a| a.id.contains("-openssl-"))
            .map(|a| a.id.as_str())
            .collect();
        assert_eq!(
            ids,
            vec![
                "ALPINE-v3.11-openssl-CVE-2000-1",
                "ALPINE-v3.11-openssl-CVE-2019-1547",
                "ALPINE-v3.11-openssl-CVE-2020-1967"
            ]
        );
        assert_eq!(
            batch.advisories[0].affected[0].status,
            AffectedStatus::NotAffected
        );
        assert_eq!(batch.advisories[1].affected[0].ecosystem, "Alpine:v3.11");
        let xen: Vec<_> = batch
            .advisories
            .iter()
            .filter(|a| a.id.contains("-xen-"))
            .map(|a| a.aliases[0].as_str())
            .collect();
        assert_eq!(xen, vec!["CVE-2018-16859", "XSA-295"]);
        assert_eq!(batch.errors.len(), 3, "{:?}", batch.errors);
        assert_eq!(
            batch.errors.iter().filter(|e| e.skipped).count(),
            1,
            "only the package without a name is dropped"
        );
    }
}
