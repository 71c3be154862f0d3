//! Windows installed programs from a registry export (`.reg`, as `reg export` writes it) of the
//! `Uninstall` keys, so the Windows agent can hand its export to this parser.

use crate::error::ParseError;
use crate::package::{AppInfo, Ecosystem, Manager, Package, Skipped};
use crate::purl;

const UNINSTALL: &str = "\\currentversion\\uninstall\\";

/// The programs "Apps & features" would list: entries with a `DisplayName`, except system
/// components and updates of another entry (`ParentKeyName`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WindowsApps {
    pub packages: Vec<Package>,
    pub skipped: Vec<Skipped>,
}

#[derive(Default)]
struct Key {
    line: u64,
    name: String,
    display_name: Option<String>,
    version: Option<String>,
    publisher: Option<String>,
    system_component: bool,
    has_parent: bool,
}

/// Decodes a `.reg` file: UTF-16LE with a byte-order mark (regedit 5.00) or UTF-8/ASCII (REGEDIT4).
pub fn decode_reg(bytes: &[u8]) -> Result<String, ParseError> {
    if let Some(rest) = bytes.strip_prefix(&[0xff, 0xfe]) {
        if rest.len() % 2 != 0 {
            return Err(ParseError::format(
                "UTF-16 text with an odd number of bytes",
            ));
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16(&units).map_err(|_| ParseError::format("invalid UTF-16 text"));
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    crate::limits::text_from_bytes(bytes.to_vec())
}

/// Parses the text of a registry export.
pub fn parse_reg_export(text: &str, location: &str) -> Result<WindowsApps, ParseError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.trim_end()));
    match lines.next() {
        Some((_, h))
            if h.trim_start_matches('\u{feff}')
                .starts_with("Windows Registry Editor")
                || h.starts_with("REGEDIT4") => {}
        _ => {
            return Err(ParseError::line(
                1,
                "not a registry export (header missing)",
            ));
        }
    }
    let mut out = WindowsApps::default();
    let mut key: Option<Key> = None;
    let mut continued = false;
    for (n, line) in lines {
        // Long hex values continue over lines ending in `\`; none of the values read here do.
        if continued {
            continued = line.ends_with('\\');
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with(';') {
            continue;
        }
        if let Some(section) = trimmed.strip_prefix('[') {
            let section = section
                .strip_suffix(']')
                .ok_or_else(|| ParseError::line(n, "key line without `]`"))?;
            finish(key.take(), location, &mut out)?;
            let lower = section.to_ascii_lowercase();
            if let Some(pos) = lower.find(UNINSTALL) {
                let sub = section.get(pos + UNINSTALL.len()..).unwrap_or("");
                if !sub.is_empty() && !sub.contains('\\') {
                    key = Some(Key {
                        line: n,
                        name: sub.to_owned(),
                        ..Key::default()
                    });
                }
            }
            continue;
        }
        continued = trimmed.ends_with('\\');
        let Some(k) = key.as_mut() else { continue };
        let Some((name, value)) = parse_value_line(trimmed) else {
            return Err(ParseError::line(n, "expected `\"Name\"=value`"));
        };
        match name.as_str() {
            "DisplayName" => k.display_name = string_value(value),
            "DisplayVersion" => k.version = string_value(value),
            "Publisher" => k.publisher = string_value(value),
            "SystemComponent" => k.system_component = value.trim() == "dword:00000001",
            "ParentKeyName" => k.has_parent = true,
            _ => {}
        }
    }
    finish(key, location, &mut out)?;
    Ok(out)
}

/// Splits `"Name"=value` (or `@=value`), unescaping the name.
fn parse_value_line(line: &str) -> Option<(String, &str)> {
    if let Some(rest) = line.strip_prefix("@=") {
        return Some(("@".to_owned(), rest));
    }
    let rest = line.strip_prefix('"')?;
    let mut name = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => name.push(chars.next()?.1),
            '"' => return rest.get(i + 1..)?.strip_prefix('=').map(|v| (name, v)),
            c => name.push(c),
        }
    }
    None
}

/// A `"..."` string value, unescaped; other types (dword, hex) are `None`.
fn string_value(value: &str) -> Option<String> {
    let inner = value.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    let out = out.trim().to_owned();
    (!out.is_empty()).then_some(out)
}

fn finish(key: Option<Key>, location: &str, out: &mut WindowsApps) -> Result<(), ParseError> {
    let Some(k) = key else { return Ok(()) };
    let Some(display_name) = k.display_name else {
        return Ok(());
    };
    let skip = |reason: &str| Skipped {
        location: location.to_owned(),
        line: Some(k.line),
        entry: display_name.clone(),
        reason: reason.to_owned(),
    };
    if k.system_component || k.has_parent {
        out.skipped
            .push(skip("system component or update of another entry"));
        return Ok(());
    }
    let Some(version) = k.version else {
        out.skipped.push(skip("no DisplayVersion"));
        return Ok(());
    };
    let purl = purl::build(
        "generic",
        None,
        &display_name,
        &version,
        &[("publisher", k.publisher.as_deref().unwrap_or(""))],
    )?;
    let mut p = Package::new(
        Ecosystem::WINDOWS_APP,
        display_name.clone(),
        version,
        purl,
        Manager::WindowsApp,
        location,
    );
    p.app = Some(AppInfo {
        display_name: Some(display_name),
        publisher: k.publisher,
        identifier: Some(k.name),
    });
    out.packages.push(p);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const EXPORT: &str = "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall]\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\7-Zip]\r\n\"DisplayName\"=\"7-Zip 23.01 (x64)\"\r\n\"DisplayVersion\"=\"23.01\"\r\n\"Publisher\"=\"Igor Pavlov\"\r\n\"UninstallString\"=\"\\\"C:\\\\Program Files\\\\7-Zip\\\\Uninstall.exe\\\"\"\r\n\"NoModify\"=dword:00000001\r\n\"Blob\"=hex:01,02,\\\r\n  03,04\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{90160000-008C-0000-1000-0000000FF1CE}]\r\n\"DisplayName\"=\"Office 16 Click-to-Run Extensibility Component\"\r\n\"DisplayVersion\"=\"16.0.17029.20028\"\r\n\"SystemComponent\"=dword:00000001\r\n\r\n[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\NoVersion]\r\n\"DisplayName\"=\"Portable Tool\"\r\n";

    #[test]
    fn uninstall_entries() {
        let mut utf16 = vec![0xff, 0xfe];
        utf16.extend(EXPORT.encode_utf16().flat_map(u16::to_le_bytes));
        let text = decode_reg(&utf16).unwrap();
        let apps = parse_reg_export(&text, "uninstall.reg").unwrap();
        assert_eq!(apps.packages.len(), 1);
        let p = &apps.packages[0];
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("7-Zip 23.01 (x64)", "23.01")
        );
        let app = p.app.as_ref().unwrap();
        assert_eq!(
            (app.publisher.as_deref(), app.identifier.as_deref()),
            (Some("Igor Pavlov"), Some("7-Zip"))
        );
        let reasons: Vec<_> = apps
            .skipped
            .iter()
            .map(|s| (s.entry.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    "Office 16 Click-to-Run Extensibility Component",
                    "system component or update of another entry"
                ),
                ("Portable Tool", "no DisplayVersion"),
            ]
        );
        assert_eq!(
            parse_reg_export("hello", "x"),
            Err(ParseError::line(
                1,
                "not a registry export (header missing)"
            ))
        );
        assert!(decode_reg(&[0xff, 0xfe, 0x41]).is_err());
    }
}
