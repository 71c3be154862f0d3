//! Ecosystem names as OSV spells them, and the ordering scheme each one uses.

use std::fmt;
use std::str::FromStr;

/// The version ordering algorithm behind an ecosystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    /// dpkg (`dpkg --compare-versions`).
    Dpkg,
    /// rpm (`rpmvercmp` over epoch, version and release).
    Rpm,
    /// apk-tools (`apk version -t`).
    Apk,
    /// SemVer 2.0 precedence (npm, crates.io, Go, Hex, SwiftURL).
    Semver,
    /// Dart's `pub_semver`: SemVer 2.0, plus build metadata ordered after the release.
    Pub,
    /// PEP 440, with setuptools' legacy ordering for strings that are not PEP 440.
    Pep440,
    /// Maven's version order specification (`ComparableVersion`).
    Maven,
    /// RubyGems' `Gem::Version`.
    RubyGems,
    /// NuGet's `NuGetVersion` (SemVer 2.0 and legacy four-part versions).
    NuGet,
    /// PHP's `version_compare`, as Packagist advisories use it.
    Composer,
    /// The fallback for ecosystems without a known ordering: natural ordering.
    Natural,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Dpkg => "dpkg",
            Scheme::Rpm => "rpm",
            Scheme::Apk => "apk",
            Scheme::Semver => "semver",
            Scheme::Pub => "pub",
            Scheme::Pep440 => "PEP 440",
            Scheme::Maven => "Maven",
            Scheme::RubyGems => "RubyGems",
            Scheme::NuGet => "NuGet",
            Scheme::Composer => "Composer",
            Scheme::Natural => "natural",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RPM-based distributions that OSV names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RpmDistro {
    RedHat,
    AlmaLinux,
    RockyLinux,
    OpenSuse,
    Suse,
    Mageia,
    OpenEuler,
    PhotonOs,
    AzureLinux,
}

impl RpmDistro {
    pub const ALL: [RpmDistro; 9] = [
        RpmDistro::RedHat,
        RpmDistro::AlmaLinux,
        RpmDistro::RockyLinux,
        RpmDistro::OpenSuse,
        RpmDistro::Suse,
        RpmDistro::Mageia,
        RpmDistro::OpenEuler,
        RpmDistro::PhotonOs,
        RpmDistro::AzureLinux,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RpmDistro::RedHat => "Red Hat",
            RpmDistro::AlmaLinux => "AlmaLinux",
            RpmDistro::RockyLinux => "Rocky Linux",
            RpmDistro::OpenSuse => "openSUSE",
            RpmDistro::Suse => "SUSE",
            RpmDistro::Mageia => "Mageia",
            RpmDistro::OpenEuler => "openEuler",
            RpmDistro::PhotonOs => "Photon OS",
            RpmDistro::AzureLinux => "Azure Linux",
        }
    }
}

/// A package ecosystem, named as OSV names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ecosystem {
    Debian,
    Ubuntu,
    Rpm(RpmDistro),
    Alpine,
    /// Wolfi (apk-based).
    Wolfi,
    /// Chainguard (apk-based).
    Chainguard,
    Npm,
    CratesIo,
    Go,
    Hex,
    Pub,
    SwiftUrl,
    PyPI,
    Maven,
    RubyGems,
    NuGet,
    Packagist,
    /// Any other name; ordered with the natural fallback ([`Scheme::Natural`]).
    Other(String),
}

/// Names matched case-insensitively; the first spelling is OSV's.
const NAMED: &[(&str, Ecosystem)] = &[
    ("Debian", Ecosystem::Debian),
    ("Ubuntu", Ecosystem::Ubuntu),
    ("Alpine", Ecosystem::Alpine),
    ("Wolfi", Ecosystem::Wolfi),
    ("Chainguard", Ecosystem::Chainguard),
    ("npm", Ecosystem::Npm),
    ("crates.io", Ecosystem::CratesIo),
    ("Go", Ecosystem::Go),
    ("Hex", Ecosystem::Hex),
    ("Pub", Ecosystem::Pub),
    ("SwiftURL", Ecosystem::SwiftUrl),
    ("PyPI", Ecosystem::PyPI),
    ("Maven", Ecosystem::Maven),
    ("RubyGems", Ecosystem::RubyGems),
    ("NuGet", Ecosystem::NuGet),
    ("Packagist", Ecosystem::Packagist),
];

impl Ecosystem {
    /// Reads an OSV ecosystem name. The part before the first `:` picks the ordering, so
    /// `"Debian:12"`, `"Alpine:v3.19"` and `"Ubuntu:22.04:LTS"` are `Debian`, `Alpine` and
    /// `Ubuntu`. Names are matched case-insensitively; unknown names become [`Ecosystem::Other`].
    pub fn parse(osv_name: &str) -> Ecosystem {
        let base = osv_name.split(':').next().unwrap_or_default().trim();
        if let Some((_, ecosystem)) = NAMED
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(base))
        {
            return ecosystem.clone();
        }
        if let Some(distro) = RpmDistro::ALL
            .into_iter()
            .find(|distro| distro.as_str().eq_ignore_ascii_case(base))
        {
            return Ecosystem::Rpm(distro);
        }
        Ecosystem::Other(base.to_owned())
    }

    /// The OSV spelling of the ecosystem (without any `:release` suffix).
    pub fn as_str(&self) -> &str {
        match self {
            Ecosystem::Rpm(distro) => distro.as_str(),
            Ecosystem::Other(name) => name,
            known => NAMED
                .iter()
                .find(|(_, ecosystem)| ecosystem == known)
                .map_or("", |(name, _)| name),
        }
    }

    /// The ordering this ecosystem's versions follow.
    pub fn scheme(&self) -> Scheme {
        match self {
            Ecosystem::Debian | Ecosystem::Ubuntu => Scheme::Dpkg,
            Ecosystem::Rpm(_) => Scheme::Rpm,
            Ecosystem::Alpine | Ecosystem::Wolfi | Ecosystem::Chainguard => Scheme::Apk,
            Ecosystem::Npm
            | Ecosystem::CratesIo
            | Ecosystem::Go
            | Ecosystem::Hex
            | Ecosystem::SwiftUrl => Scheme::Semver,
            Ecosystem::Pub => Scheme::Pub,
            Ecosystem::PyPI => Scheme::Pep440,
            Ecosystem::Maven => Scheme::Maven,
            Ecosystem::RubyGems => Scheme::RubyGems,
            Ecosystem::NuGet => Scheme::NuGet,
            Ecosystem::Packagist => Scheme::Composer,
            Ecosystem::Other(_) => Scheme::Natural,
        }
    }
}

impl FromStr for Ecosystem {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Ecosystem::parse(s))
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_suffixes_pick_the_base_ecosystem() {
        assert_eq!(Ecosystem::parse("Debian:12"), Ecosystem::Debian);
        assert_eq!(Ecosystem::parse("Alpine:v3.19"), Ecosystem::Alpine);
        assert_eq!(Ecosystem::parse("Ubuntu:22.04:LTS"), Ecosystem::Ubuntu);
        assert_eq!(
            Ecosystem::parse("Red Hat:enterprise_linux:9::appstream"),
            Ecosystem::Rpm(RpmDistro::RedHat)
        );
        assert_eq!(
            Ecosystem::parse("Rocky Linux:9"),
            Ecosystem::Rpm(RpmDistro::RockyLinux)
        );
        assert_eq!(Ecosystem::parse("CRAN"), Ecosystem::Other("CRAN".into()));
    }

    #[test]
    fn names_round_trip() {
        for (name, ecosystem) in NAMED {
            assert_eq!(Ecosystem::parse(name).as_str(), *name);
            assert_eq!(ecosystem.to_string(), *name);
        }
        for distro in RpmDistro::ALL {
            assert_eq!(Ecosystem::parse(distro.as_str()), Ecosystem::Rpm(distro));
        }
        assert_eq!(Ecosystem::parse("crates.io").scheme(), Scheme::Semver);
        assert_eq!("pypi".parse::<Ecosystem>(), Ok(Ecosystem::PyPI));
    }
}
