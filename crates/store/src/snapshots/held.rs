//! The package keys each asset held after the last report this process applied to it, so the
//! asset's next report diffs against memory instead of reading ~200 rows back per report (the
//! largest share of the database's work in applying a batch: 27 of 58 s of statement time while
//! draining a backlog on PostgreSQL).
//!
//! An entry is only a hint. It is used when the asset row, locked in the applying transaction,
//! still holds the entry's `(inventory_sequence, inventory_hash)`: every report applied to an
//! asset raises its sequence, and whatever else changes an asset's packages clears its hash
//! (retention), so a matching pair means the packages are the ones remembered. Anything else
//! (another instance applied a report, the entry was evicted, a rollback) reads the rows again.

use std::sync::Arc;

use super::PackageKey;
use crate::AssetId;

/// What the remembered keys take in memory at most; the least recently used assets go first.
/// 128 MiB holds ~3,000 assets of 200 packages.
const CAPACITY_BYTES: u64 = 128 * 1024 * 1024;

/// An asset's packages as of one applied report.
pub(crate) struct HeldPackages {
    pub sequence: i64,
    pub hash: String,
    pub keys: Arc<[PackageKey]>,
}

#[derive(Clone)]
pub(crate) struct HeldPackagesCache {
    entries: moka::sync::Cache<AssetId, Arc<HeldPackages>>,
}

impl std::fmt::Debug for HeldPackagesCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldPackagesCache")
            .field("assets", &self.entries.entry_count())
            .finish()
    }
}

impl Default for HeldPackagesCache {
    fn default() -> Self {
        HeldPackagesCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|_, held: &Arc<HeldPackages>| weight(held))
                .build(),
        }
    }
}

impl HeldPackagesCache {
    /// The asset's keys if the locked row still holds the remembered sequence and hash.
    pub fn get(
        &self,
        asset: AssetId,
        sequence: Option<i64>,
        hash: Option<&str>,
    ) -> Option<Arc<[PackageKey]>> {
        let held = self.entries.get(&asset)?;
        (Some(held.sequence) == sequence && Some(held.hash.as_str()) == hash)
            .then(|| held.keys.clone())
    }

    /// Remembers what a committed transaction left the asset holding.
    pub fn insert(&self, asset: AssetId, held: HeldPackages) {
        self.entries.insert(asset, Arc::new(held));
    }
}

fn weight(held: &HeldPackages) -> u32 {
    let strings: usize = held
        .keys
        .iter()
        .map(|(e, n, v, a)| e.len() + n.len() + v.len() + a.len())
        .sum();
    let bytes = strings + held.keys.len() * std::mem::size_of::<PackageKey>() + held.hash.len();
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> PackageKey {
        ("npm".into(), name.into(), "1.0.0".into(), String::new())
    }

    #[test]
    fn an_entry_is_used_only_while_the_row_holds_its_sequence_and_hash() {
        let cache = HeldPackagesCache::default();
        let asset = AssetId::generate();
        assert!(cache.get(asset, Some(1), Some("h1")).is_none());
        cache.insert(
            asset,
            HeldPackages {
                sequence: 1,
                hash: "h1".into(),
                keys: vec![key("left-pad")].into(),
            },
        );
        let keys = cache.get(asset, Some(1), Some("h1")).expect("a hit");
        assert_eq!(&keys[..], &[key("left-pad")]);
        // Another instance applied report 2; retention cleared the hash; a new asset.
        assert!(cache.get(asset, Some(2), Some("h2")).is_none());
        assert!(cache.get(asset, Some(1), None).is_none());
        assert!(cache.get(asset, None, None).is_none());
    }
}
