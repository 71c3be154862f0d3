//! Paths under a scanned root. Symlinks are never followed out of it: an image's unpacked root
//! may hold absolute links that would point into the host.

use std::fs;
use std::path::{Component, Path, PathBuf};

pub fn is_regular_file(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

pub fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// `path` relative to `root`, `/`-separated, as reported in [`crate::Package::location`].
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

/// Expands a search pattern relative to `root` whose `/`-separated segments are literal names or
/// contain one `*` (`usr/lib/python3*/site-packages`, `home/*/.cargo/bin`) into the existing real
/// (non-symlink) directories it names, sorted.
pub fn expand_dirs(root: &Path, pattern: &str) -> Vec<PathBuf> {
    let mut current = vec![root.to_path_buf()];
    for segment in pattern.split('/').filter(|s| !s.is_empty()) {
        let mut next = Vec::new();
        for dir in &current {
            match segment.split_once('*') {
                None => {
                    let p = dir.join(segment);
                    if is_real_dir(&p) {
                        next.push(p);
                    }
                }
                Some((prefix, suffix)) => {
                    let Ok(entries) = fs::read_dir(dir) else {
                        continue;
                    };
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(Result::ok)
                        .filter(|e| {
                            let name = e.file_name();
                            let name = name.to_string_lossy();
                            name.len() >= prefix.len() + suffix.len()
                                && name.starts_with(prefix)
                                && name.ends_with(suffix)
                        })
                        .map(|e| e.path())
                        .filter(|p| is_real_dir(p))
                        .collect();
                    found.sort();
                    next.extend(found);
                }
            }
        }
        current = next;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_stars_and_skips_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in [
            "usr/lib/python3.11/site-packages",
            "usr/lib/python3.12/site-packages",
            "usr/lib/python2.7/site-packages",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        std::os::unix::fs::symlink(
            root.join("usr/lib/python3.11"),
            root.join("usr/lib/python3.13"),
        )
        .unwrap();
        let found: Vec<String> = expand_dirs(root, "usr/lib/python3*/site-packages")
            .iter()
            .map(|p| relative(root, p))
            .collect();
        assert_eq!(
            found,
            [
                "usr/lib/python3.11/site-packages",
                "usr/lib/python3.12/site-packages"
            ]
        );
    }
}
