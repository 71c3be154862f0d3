//! Whole scans of fixture roots built from real file formats: every collector, ownership
//! between OS and language managers, per-file errors, and roots that try to escape.

mod support;

use std::fs;

use support::{elf_with, go_buildinfo, jar, write, zlib};
use zerotrace_inventory::error::ParseError;
use zerotrace_inventory::scan::{ScanOptions, scan};

const DEBIAN_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";

const DPKG_STATUS: &str = "Package: python3-yaml\nStatus: install ok installed\nPriority: optional\nSection: python\nInstalled-Size: 690\nMaintainer: Debian Python Team <team+python@tracker.debian.org>\nArchitecture: amd64\nSource: pyyaml\nVersion: 6.0-3+b2\nDepends: python3 (<< 3.12), python3 (>= 3.11~), python3:any, libc6 (>= 2.14), libyaml-0-2\nDescription: YAML parser and emitter for Python3\n PyYAML is a YAML parser and emitter for Python.\n\nPackage: gotool-deb\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n\nPackage: removed\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 2.0\n";

const METADATA: &str = "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nSummary: Python HTTP for Humans.\n\nlong description\n";

fn rows(report: &zerotrace_inventory::ScanReport) -> Vec<String> {
    let mut rows: Vec<String> = report
        .packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {} @ {}",
                p.manager, p.ecosystem, p.name, p.version, p.location
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn debian_like_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "usr/lib/os-release", DEBIAN_OS_RELEASE);
    fs::create_dir_all(root.join("etc")).unwrap();
    std::os::unix::fs::symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
    write(root, "var/lib/dpkg/status", DPKG_STATUS);
    write(
        root,
        "var/lib/dpkg/info/python3-yaml.list",
        "/.\n/usr\n/usr/lib/python3/dist-packages\n/usr/lib/python3/dist-packages/PyYAML-6.0.dist-info\n/usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA\n",
    );
    write(
        root,
        "var/lib/dpkg/info/gotool-deb.list",
        "/usr/bin\n/usr/bin/gotool-deb\n",
    );

    // Python: one owned by dpkg, one pip package, a legacy egg-info file, a garbage METADATA.
    write(
        root,
        "usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA",
        "Name: PyYAML\nVersion: 6.0\n",
    );
    write(
        root,
        "usr/local/lib/python3.11/dist-packages/requests-2.31.0.dist-info/METADATA",
        METADATA,
    );
    write(
        root,
        "usr/local/lib/python3.11/dist-packages/six-1.16.0.egg-info",
        "Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\n",
    );
    write(
        root,
        "usr/local/lib/python3.11/dist-packages/broken-1.0.dist-info/METADATA",
        [0u8, 159, 146, 150, 10, 10],
    );

    // npm: scoped, nested, and one package.json over the 1 MiB bound (sparse, so cheap).
    write(
        root,
        "usr/local/lib/node_modules/@angular/cli/package.json",
        r#"{"name":"@angular/cli","version":"17.0.0"}"#,
    );
    write(
        root,
        "usr/local/lib/node_modules/@angular/cli/node_modules/semver/package.json",
        r#"{"name":"semver","version":"7.5.4"}"#,
    );
    write(root, "usr/local/lib/node_modules/huge/package.json", "");
    fs::File::options()
        .write(true)
        .open(root.join("usr/local/lib/node_modules/huge/package.json"))
        .unwrap()
        .set_len(1024 * 1024 + 1)
        .unwrap();
    write(root, "usr/local/lib/node_modules/.bin/ng", "#!/bin/sh\n");

    // RubyGems, a Spring Boot style jar, binaries, a macOS bundle.
    write(
        root,
        "var/lib/gems/3.1.0/specifications/rake-13.0.6.gemspec",
        "Gem::Specification.new do |s|\n  s.name = \"rake\".freeze\n  s.version = \"13.0.6\"\nend\n",
    );
    let inner = jar(&[(
        "META-INF/maven/org.yaml/snakeyaml/pom.properties",
        b"groupId=org.yaml\nartifactId=snakeyaml\nversion=1.33\n",
    )]);
    let app = jar(&[
        (
            "META-INF/maven/com.example/app/pom.properties",
            b"groupId=com.example\nartifactId=app\nversion=1.0.0\n",
        ),
        ("BOOT-INF/lib/snakeyaml-1.33.jar", &inner),
    ]);
    write(root, "opt/app/app.jar", app);
    let go = go_buildinfo(
        "go1.21.5",
        "path\texample.com/tool\nmod\texample.com/tool\tv1.2.3\th1:a=\ndep\tgolang.org/x/text\tv0.14.0\th1:b=",
    );
    write(
        root,
        "usr/local/bin/gotool",
        elf_with(&[(".go.buildinfo", &go)]),
    );
    write(
        root,
        "usr/bin/gotool-deb",
        elf_with(&[(".go.buildinfo", &go)]),
    );
    let audit = zlib(br#"{"packages":[{"name":"tool","version":"0.1.0","source":"local","root":true},{"name":"regex","version":"1.10.2","source":"crates.io"}]}"#);
    write(
        root,
        "root/.cargo/bin/rusttool",
        elf_with(&[(".dep-v0", &audit)]),
    );
    write(
        root,
        "Applications/Firefox.app/Contents/Info.plist",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict><key>CFBundleName</key><string>Firefox</string><key>CFBundleShortVersionString</key><string>120.0.1</string><key>CFBundleIdentifier</key><string>org.mozilla.firefox</string></dict></plist>",
    );

    let report = scan(root, &ScanOptions::default());
    assert_eq!(
        rows(&report),
        [
            "cargo-auditable crates.io regex 1.10.2 @ root/.cargo/bin/rusttool",
            "dpkg Debian:12 gotool-deb 1.0-1 @ var/lib/dpkg/status",
            "dpkg Debian:12 python3-yaml 6.0-3+b2 @ var/lib/dpkg/status",
            "gem RubyGems rake 13.0.6 @ var/lib/gems/3.1.0/specifications/rake-13.0.6.gemspec",
            "go-binary Go example.com/tool v1.2.3 @ usr/local/bin/gotool",
            "go-binary Go golang.org/x/text v0.14.0 @ usr/local/bin/gotool",
            "go-binary Go stdlib 1.21.5 @ usr/local/bin/gotool",
            "jar Maven com.example:app 1.0.0 @ opt/app/app.jar",
            "jar Maven org.yaml:snakeyaml 1.33 @ opt/app/app.jar!BOOT-INF/lib/snakeyaml-1.33.jar",
            "macos-app macOS Firefox 120.0.1 @ Applications/Firefox.app/Contents/Info.plist",
            "npm npm @angular/cli 17.0.0 @ usr/local/lib/node_modules/@angular/cli/package.json",
            "npm npm semver 7.5.4 @ usr/local/lib/node_modules/@angular/cli/node_modules/semver/package.json",
            "pip PyPI requests 2.31.0 @ usr/local/lib/python3.11/dist-packages/requests-2.31.0.dist-info/METADATA",
            "pip PyPI six 1.16.0 @ usr/local/lib/python3.11/dist-packages/six-1.16.0.egg-info",
        ]
    );
    let errors: Vec<(String, bool)> = report
        .errors
        .iter()
        .map(|e| {
            (
                e.path.clone(),
                matches!(e.error, ParseError::TooLarge { .. }),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (
                "usr/local/lib/python3.11/dist-packages/broken-1.0.dist-info/METADATA".to_owned(),
                false
            ),
            (
                "usr/local/lib/node_modules/huge/package.json".to_owned(),
                true
            ),
        ]
    );
    let yaml = report
        .packages
        .iter()
        .find(|p| p.name == "python3-yaml")
        .unwrap();
    assert_eq!(
        yaml.source.as_ref().map(|s| s.name.as_str()),
        Some("pyyaml")
    );
    assert_eq!(
        yaml.purl,
        "pkg:deb/debian/python3-yaml@6.0-3%2Bb2?arch=amd64&distro=debian-12&upstream=pyyaml"
    );
}

#[test]
fn alpine_root_and_symlinks_that_leave_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    write(
        &outside,
        "node_modules/evil/package.json",
        r#"{"name":"evil","version":"6.6.6"}"#,
    );
    write(&outside, "os-release", "ID=debian\nVERSION_ID=12\n");
    write(
        &root,
        "usr/lib/os-release",
        "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n",
    );
    fs::create_dir_all(root.join("etc")).unwrap();
    // An absolute link that would read the host's (here: outside's) file if followed.
    std::os::unix::fs::symlink(outside.join("os-release"), root.join("etc/os-release")).unwrap();
    fs::create_dir_all(root.join("usr/local/lib")).unwrap();
    std::os::unix::fs::symlink(
        outside.join("node_modules"),
        root.join("usr/local/lib/node_modules"),
    )
    .unwrap();
    write(
        &root,
        "lib/apk/db/installed",
        "C:Q1abc=\nP:py3-six\nV:1.16.0-r9\nA:noarch\no:py3-six\nF:usr/lib/python3.11/site-packages/six-1.16.0.dist-info\nR:METADATA\n\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\no:musl\nF:lib\nR:ld-musl-x86_64.so.1\n",
    );
    write(
        &root,
        "usr/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA",
        "Name: six\nVersion: 1.16.0\n",
    );
    write(
        &root,
        "usr/lib/python3.11/site-packages/flask-3.0.0.dist-info/METADATA",
        "Name: Flask\nVersion: 3.0.0\n",
    );

    let report = scan(&root, &ScanOptions::default());
    assert_eq!(
        rows(&report),
        [
            "apk Alpine:v3.19 musl 1.2.4_git20230717-r4 @ lib/apk/db/installed",
            "apk Alpine:v3.19 py3-six 1.16.0-r9 @ lib/apk/db/installed",
            "pip PyPI Flask 3.0.0 @ usr/lib/python3.11/site-packages/flask-3.0.0.dist-info/METADATA",
        ]
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.os.as_ref().map(|o| o.id.as_str()), Some("alpine"));
}

#[test]
fn empty_root_scans_to_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let report = scan(dir.path(), &ScanOptions::default());
    assert_eq!(
        (report.os, report.packages.len(), report.errors.len()),
        (None, 0, 0)
    );
}
