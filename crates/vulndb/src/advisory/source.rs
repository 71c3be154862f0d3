use serde::{Deserialize, Serialize};

/// Which feed an advisory came from. Part of an advisory's identity: the same id from two feeds
/// (an Ubuntu OSV record named `CVE-…` and the NVD record of that CVE) are two advisories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Source {
    Osv,
    Nvd,
    DebianDsa,
    DebianDla,
    AlpineSecdb,
    RubySec,
    NodejsWg,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Osv => "osv",
            Source::Nvd => "nvd",
            Source::DebianDsa => "debian-dsa",
            Source::DebianDla => "debian-dla",
            Source::AlpineSecdb => "alpine-secdb",
            Source::RubySec => "rubysec",
            Source::NodejsWg => "nodejs-security-wg",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
