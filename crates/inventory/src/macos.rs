//! macOS application bundles: `<name>.app/Contents/Info.plist` (XML or binary plist).

use std::fs::{self, File};
use std::io::{BufReader, Read};

use crate::error::{FileError, ParseError};
use crate::fsroot::{expand_dirs, is_real_dir, is_regular_file, relative};
use crate::limits::MIB;
use crate::package::{AppInfo, Ecosystem, Manager, Package};
use crate::purl;
use crate::scan::{Collected, Context};

/// Folders holding `.app` bundles (one level of subfolders, such as `Utilities`, included).
pub const SEARCH_ROOTS: [&str; 6] = [
    "Applications",
    "Applications/*",
    "System/Applications",
    "System/Applications/Utilities",
    "Users/*/Applications",
    "Users/*/Applications/*",
];
pub const INFO_PLIST_LIMIT: u64 = 8 * MIB;

pub fn collect(ctx: &Context, out: &mut Collected) {
    for pattern in SEARCH_ROOTS {
        for dir in expand_dirs(ctx.root, pattern) {
            if dir.extension().is_some_and(|e| e == "app") {
                continue;
            }
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let mut bundles: Vec<_> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "app") && is_real_dir(p))
                .collect();
            bundles.sort();
            for bundle in bundles {
                let plist = bundle.join("Contents/Info.plist");
                if !is_regular_file(&plist) {
                    continue;
                }
                let rel = relative(ctx.root, &plist);
                let parsed = File::open(&plist)
                    .map_err(ParseError::from)
                    .and_then(|f| parse_info_plist(f.take(INFO_PLIST_LIMIT + 1), &rel));
                match parsed {
                    Ok(p) => out.packages.push(p),
                    Err(e) => out.errors.push(FileError::new(rel, e)),
                }
            }
        }
    }
}

/// Reads an `Info.plist`: name from `CFBundleName` (the executable otherwise), version from
/// `CFBundleShortVersionString` (`CFBundleVersion` otherwise).
pub fn parse_info_plist(reader: impl Read, location: &str) -> Result<Package, ParseError> {
    let value = plist::Value::from_reader(std::io::Cursor::new(crate::limits::read_all_bounded(
        BufReader::new(reader),
        INFO_PLIST_LIMIT,
        0,
    )?))
    .map_err(|e| ParseError::format(format!("not a property list: {e}")))?;
    let dict = value
        .as_dictionary()
        .ok_or_else(|| ParseError::format("top level is not a dictionary"))?;
    let get = |key: &str| {
        dict.get(key)
            .and_then(plist::Value::as_string)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let name = get("CFBundleName")
        .or(get("CFBundleExecutable"))
        .ok_or_else(|| ParseError::missing("CFBundleName"))?;
    let version = get("CFBundleShortVersionString")
        .or(get("CFBundleVersion"))
        .ok_or_else(|| ParseError::missing("CFBundleShortVersionString"))?;
    let identifier = get("CFBundleIdentifier");
    let purl = purl::build(
        "generic",
        None,
        name,
        version,
        &[("bundle_id", identifier.unwrap_or(""))],
    )?;
    let mut p = Package::new(
        Ecosystem::MACOS_APP,
        name,
        version,
        purl,
        Manager::MacApp,
        location,
    );
    p.app = Some(AppInfo {
        display_name: get("CFBundleDisplayName").or(Some(name)).map(str::to_owned),
        publisher: None,
        identifier: identifier.map(str::to_owned),
    });
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const FIREFOX: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>CFBundleExecutable</key><string>firefox</string>
  <key>CFBundleIdentifier</key><string>org.mozilla.firefox</string>
  <key>CFBundleName</key><string>Firefox</string>
  <key>CFBundleShortVersionString</key><string>120.0.1</string>
  <key>CFBundleVersion</key><string>12023.11.29</string>
</dict>
</plist>"#;

    #[test]
    fn xml_and_binary_plists() {
        let p = parse_info_plist(
            FIREFOX.as_bytes(),
            "Applications/Firefox.app/Contents/Info.plist",
        )
        .unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("Firefox", "120.0.1")
        );
        assert_eq!(
            p.purl,
            "pkg:generic/Firefox@120.0.1?bundle_id=org.mozilla.firefox"
        );
        let value = plist::Value::from_reader_xml(FIREFOX.as_bytes()).unwrap();
        let mut binary = Vec::new();
        value.to_writer_binary(&mut binary).unwrap();
        assert!(binary.starts_with(b"bplist00"));
        assert_eq!(
            parse_info_plist(binary.as_slice(), "l").unwrap(),
            Package {
                location: "l".into(),
                ..p
            }
        );
        assert!(parse_info_plist(&b"bplist00\xff\xff"[..], "l").is_err());
    }
}
