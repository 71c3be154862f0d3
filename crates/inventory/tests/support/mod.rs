//! Builders for real file formats used by the fixture trees.

// Each test binary uses a different subset of these builders.
#![allow(dead_code)]

use std::io::{Cursor, Write};
use std::path::Path;

use object::write::{Object as WriteObject, StandardSection};
use object::{Architecture, BinaryFormat, Endianness, SectionKind};

pub fn write(root: &Path, rel: &str, bytes: impl AsRef<[u8]>) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

pub fn jar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub fn elf_with(sections: &[(&str, &[u8])]) -> Vec<u8> {
    let mut obj = WriteObject::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    let text = obj.section_id(StandardSection::Text);
    obj.append_section_data(text, &[0xc3], 1);
    for (name, data) in sections {
        let id = obj.add_section(
            Vec::new(),
            name.as_bytes().to_vec(),
            SectionKind::ReadOnlyData,
        );
        obj.append_section_data(id, data, 16);
    }
    obj.write().unwrap()
}

fn uvarint(mut n: usize, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A Go 1.18+ `.go.buildinfo` section with inline strings and the linker's sentinels.
pub fn go_buildinfo(version: &str, modinfo: &str) -> Vec<u8> {
    let mut s = b"\xff Go buildinf:".to_vec();
    s.extend_from_slice(&[8, 2]);
    s.resize(32, 0);
    // Go's linker frames modinfo with these two 16-byte sentinels.
    let mut framed_bytes = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6".to_vec();
    framed_bytes.extend_from_slice(modinfo.as_bytes());
    framed_bytes.push(b'\n');
    framed_bytes.extend_from_slice(b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2");
    uvarint(version.len(), &mut s);
    s.extend_from_slice(version.as_bytes());
    uvarint(framed_bytes.len(), &mut s);
    s.extend_from_slice(&framed_bytes);
    s
}

pub fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An rpm header blob (index entries, then the data store) as rpm databases store it.
/// Entries are (tag, type, bytes); type 4 is INT32, 6 STRING.
pub fn rpm_header(entries: &[(i32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut index = Vec::new();
    let mut data = Vec::new();
    for (tag, ty, bytes) in entries {
        if *ty == 4 {
            while data.len() % 4 != 0 {
                data.push(0);
            }
        }
        index.extend_from_slice(&tag.to_be_bytes());
        index.extend_from_slice(&ty.to_be_bytes());
        index.extend_from_slice(&(data.len() as u32).to_be_bytes());
        index.extend_from_slice(&1u32.to_be_bytes());
        data.extend_from_slice(bytes);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend(index);
    out.extend(data);
    out
}

/// Packages as `rpm -qa --qf '%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\n'`
/// prints them, sorted, to compare with rpm's own view of a database.
pub fn rpm_qa_rows(packages: &[zerotrace_inventory::Package]) -> Vec<String> {
    let mut rows: Vec<String> = packages
        .iter()
        .map(|p| {
            let (epoch, evr) = match p.version.split_once(':') {
                Some((e, rest)) => (e.to_owned(), rest.to_owned()),
                None => ("0".to_owned(), p.version.clone()),
            };
            let (version, release) = evr.rsplit_once('-').unwrap();
            let source = p.source.as_ref().map(|s| {
                let v = s
                    .version
                    .clone()
                    .unwrap_or_else(|| format!("{version}-{release}"));
                format!("{}-{v}.src.rpm", s.name)
            });
            format!(
                "{}\t{epoch}\t{version}\t{release}\t{}\t{}",
                p.name,
                p.arch.as_deref().unwrap_or(""),
                source.unwrap_or_default()
            )
        })
        .collect();
    rows.sort();
    rows
}
