//! Go binaries' embedded build info (the `.go.buildinfo` section, Go 1.18+ inline format):
//! the Go toolchain version (reported as `stdlib`), the main module and every dependency module,
//! with `=>` replacements applied.

use crate::error::ParseError;
use crate::package::{Ecosystem, Manager, Package};
use crate::purl;

pub const MAGIC: &[u8; 14] = b"\xff Go buildinf:";
const HEADER_LEN: usize = 32;
const FLAG_INLINE_STRINGS: u8 = 0x2;

/// What the build info says, before it becomes packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// `go1.22.1`.
    pub go_version: String,
    pub main_path: String,
    /// `(module path, version)`, replacements applied, main module first when it has a version.
    pub modules: Vec<(String, String)>,
}

fn uvarint(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn inline_string(data: &[u8]) -> Result<(&[u8], &[u8]), ParseError> {
    let (len, used) =
        uvarint(data).ok_or_else(|| ParseError::format("bad string length in build info"))?;
    let len = usize::try_from(len).map_err(|_| ParseError::format("string length overflows"))?;
    let rest = data.get(used..).unwrap_or_default();
    if rest.len() < len {
        return Err(ParseError::format(
            "build info string runs past the section",
        ));
    }
    Ok(rest.split_at(len))
}

/// Parses the bytes of a build info blob, starting at its magic.
pub fn parse_buildinfo(section: &[u8]) -> Result<BuildInfo, ParseError> {
    let start = find_magic(section).ok_or_else(|| ParseError::format("no Go build info magic"))?;
    let blob = section.get(start..).unwrap_or_default();
    let flags = *blob
        .get(15)
        .ok_or_else(|| ParseError::format("build info header truncated"))?;
    if flags & FLAG_INLINE_STRINGS == 0 {
        return Err(ParseError::format(
            "pre-Go 1.18 build info (pointer format) is not read",
        ));
    }
    let data = blob
        .get(HEADER_LEN..)
        .ok_or_else(|| ParseError::format("build info header truncated"))?;
    let (version, rest) = inline_string(data)?;
    let (modinfo, _) = inline_string(rest)?;
    // modinfo is framed by two 16-byte sentinels when present.
    let modinfo = if modinfo.len() >= 33 && modinfo.get(modinfo.len() - 17) == Some(&b'\n') {
        modinfo.get(16..modinfo.len() - 16).unwrap_or_default()
    } else {
        modinfo
    };
    let go_version =
        std::str::from_utf8(version).map_err(|_| ParseError::field("go version", "not UTF-8"))?;
    let modinfo =
        std::str::from_utf8(modinfo).map_err(|_| ParseError::field("modinfo", "not UTF-8"))?;
    let mut info = BuildInfo {
        go_version: go_version.to_owned(),
        main_path: String::new(),
        modules: Vec::new(),
    };
    for (i, line) in modinfo.lines().enumerate() {
        let mut parts = line.split('\t');
        let kind = parts.next().unwrap_or("");
        let path = parts.next().unwrap_or("");
        let version = parts.next().unwrap_or("");
        match kind {
            "path" => info.main_path = path.to_owned(),
            "mod" if !version.is_empty() && version != "(devel)" => {
                info.modules.push((path.to_owned(), version.to_owned()));
            }
            "dep" => {
                if path.is_empty() || version.is_empty() {
                    return Err(ParseError::line(
                        i as u64 + 1,
                        "dep line without path and version",
                    ));
                }
                info.modules.push((path.to_owned(), version.to_owned()));
            }
            "=>" => {
                // A replacement by a local directory has no version: that code is not the module.
                let replaced = info.modules.pop();
                if replaced.is_some() && !version.is_empty() {
                    info.modules.push((path.to_owned(), version.to_owned()));
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

/// Go writes the header at a 16-byte aligned address; sections start with it in ELF and Mach-O,
/// PE binaries keep it somewhere in `.data`.
fn find_magic(data: &[u8]) -> Option<usize> {
    (0..data.len())
        .step_by(16)
        .find(|&i| data.get(i..i + MAGIC.len()) == Some(MAGIC.as_slice()))
}

pub fn go_purl(path: &str, version: &str) -> Result<String, ParseError> {
    match path.rsplit_once('/') {
        Some((ns, name)) => purl::build("golang", Some(ns), name, version, &[]),
        None => purl::build("golang", None, path, version, &[]),
    }
}

impl BuildInfo {
    /// The modules and the Go standard library (OSV's `stdlib` in the Go ecosystem).
    pub fn packages(&self, location: &str) -> Result<Vec<Package>, ParseError> {
        let mut out = Vec::with_capacity(self.modules.len() + 1);
        let toolchain = self.go_version.split_whitespace().next().unwrap_or("");
        if let Some(v) = toolchain
            .strip_prefix("go")
            .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        {
            out.push(Package::new(
                Ecosystem::GO,
                "stdlib",
                v,
                go_purl("stdlib", v)?,
                Manager::GoBinary,
                location,
            ));
        }
        for (path, version) in &self.modules {
            out.push(Package::new(
                Ecosystem::GO,
                path,
                version,
                go_purl(path, version)?,
                Manager::GoBinary,
                location,
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn section(version: &str, modinfo: &str) -> Vec<u8> {
        let mut s = MAGIC.to_vec();
        s.extend_from_slice(&[8, FLAG_INLINE_STRINGS]);
        s.resize(HEADER_LEN, 0);
        let framed = format!("0123456789abcdef{modinfo}\n0123456789abcdef");
        for part in [version, framed.as_str()] {
            s.push((part.len() & 0x7f) as u8 | 0x80);
            s.push(u8::try_from(part.len() >> 7).unwrap());
            s.extend_from_slice(part.as_bytes());
        }
        s
    }

    #[test]
    fn modules_replacements_and_stdlib() {
        let modinfo = "path\tgithub.com/acme/tool\nmod\tgithub.com/acme/tool\t(devel)\t\ndep\tgolang.org/x/net\tv0.17.0\th1:x=\ndep\tgithub.com/old/lib\tv1.0.0\th1:y=\n=>\tgithub.com/new/lib\tv1.2.0\th1:z=\ndep\texample.com/local\tv0.0.0\n=>\t../local\t\t\nbuild\t-compiler=gc";
        let info = parse_buildinfo(&section("go1.21.5 X:boringcrypto", modinfo)).unwrap();
        assert_eq!(info.main_path, "github.com/acme/tool");
        let pkgs = info.packages("usr/local/bin/tool").unwrap();
        let got: Vec<_> = pkgs
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("stdlib", "1.21.5"),
                ("golang.org/x/net", "v0.17.0"),
                ("github.com/new/lib", "v1.2.0")
            ]
        );
        assert_eq!(pkgs[1].purl, "pkg:golang/golang.org/x/net@v0.17.0");
    }

    #[test]
    fn truncated_and_old_formats() {
        let full = section("go1.22.0", "dep\ta\tv1\n");
        for cut in [10, 20, 33, full.len() - 5] {
            assert!(parse_buildinfo(&full[..cut]).is_err(), "cut at {cut}");
        }
        let mut old = full.clone();
        old[15] = 0;
        assert_eq!(
            parse_buildinfo(&old),
            Err(ParseError::format(
                "pre-Go 1.18 build info (pointer format) is not read"
            ))
        );
    }
}
