//! Files that an OS package manager owns. A language package or binary found at one of them is
//! already reported under the OS package, so the language collectors skip it.
//!
//! Only the paths a language collector could look at are kept (package metadata directories,
//! `package.json`, gemspecs, archives, executables in `bin` directories): a full dpkg file list is
//! hundreds of thousands of paths, far more than the agent's memory budget wants to hold.

use std::collections::HashSet;

#[derive(Debug, Default, Clone)]
pub struct OwnedFiles {
    paths: HashSet<String>,
}

impl OwnedFiles {
    /// Records `path` (absolute inside the root, as package databases write it) if a collector
    /// could ask about it.
    pub fn insert(&mut self, path: &str) {
        let path = path.trim_end_matches('/');
        if is_marker(path) {
            self.paths.insert(path.trim_start_matches('/').to_owned());
        }
    }

    /// Whether `rel` (relative to the root, `/`-separated) belongs to an OS package.
    pub fn owns(&self, rel: &str) -> bool {
        self.paths.contains(rel.trim_start_matches('/'))
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

fn is_marker(path: &str) -> bool {
    const SUFFIXES: [&str; 8] = [
        ".dist-info",
        ".egg-info",
        "/package.json",
        ".gemspec",
        ".jar",
        ".war",
        ".ear",
        "/Info.plist",
    ];
    if SUFFIXES.iter().any(|s| path.ends_with(s)) {
        return true;
    }
    let parent = path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let parent_name = parent.rsplit_once('/').map_or(parent, |(_, name)| name);
    matches!(parent_name, "bin" | "sbin" | "libexec") || path.starts_with("/opt/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_markers() {
        let mut owned = OwnedFiles::default();
        for p in [
            "/usr/lib/python3/dist-packages/PyYAML-6.0.dist-info",
            "/usr/lib/python3/dist-packages/yaml/__init__.py",
            "/usr/bin/docker",
            "/usr/share/doc/x/copyright",
            "/usr/share/nodejs/acorn/package.json",
        ] {
            owned.insert(p);
        }
        assert_eq!(owned.len(), 3);
        assert!(owned.owns("usr/lib/python3/dist-packages/PyYAML-6.0.dist-info"));
        assert!(owned.owns("usr/bin/docker"));
        assert!(!owned.owns("usr/share/doc/x/copyright"));
    }
}
