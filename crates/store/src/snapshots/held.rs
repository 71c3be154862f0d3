//! The package keys and findings each asset held after the last report this process applied to
//! it, so the asset's next report diffs and plans against memory instead of reading its rows
//! back. Those reads were the largest share of applying a batch: package keys 27 of 58 s of
//! statement time on PostgreSQL; then findings, ~40% of the time SQLite's one writer spent on a
//! batch of changed inventories.
//!
//! An entry is only a hint. It is used when the asset row, locked in the applying transaction,
//! still holds the entry's `(inventory_sequence, inventory_hash)`: every report applied to an
//! asset raises its sequence, and whatever else changes an asset's packages or findings clears
//! its hash (retention, re-matching), so a matching pair means the rows are the ones remembered.
//! Anything else (another instance applied a report, the entry was evicted, a rollback) reads
//! the rows again.

use std::sync::Arc;

use super::PackageKey;
use crate::AssetId;
use crate::lifecycle::StoredFinding;

/// What the remembered rows take in memory at most; the least recently used assets go first.
/// 256 MiB holds ~3,000 assets of 200 packages and 100 findings.
const CAPACITY_BYTES: u64 = 256 * 1024 * 1024;

/// An asset's packages and findings as of one applied report.
pub(crate) struct HeldAsset {
    pub sequence: i64,
    pub hash: String,
    pub keys: Arc<[PackageKey]>,
    pub findings: Arc<[StoredFinding]>,
}

#[derive(Clone)]
pub(crate) struct HeldAssets {
    entries: moka::sync::Cache<AssetId, Arc<HeldAsset>>,
}

impl std::fmt::Debug for HeldAssets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldAssets")
            .field("assets", &self.entries.entry_count())
            .finish()
    }
}

impl Default for HeldAssets {
    fn default() -> Self {
        HeldAssets {
            entries: moka::sync::Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|_, held: &Arc<HeldAsset>| weight(held))
                .build(),
        }
    }
}

impl HeldAssets {
    /// What the asset held, if the locked row still holds the remembered sequence and hash.
    pub fn get(
        &self,
        asset: AssetId,
        sequence: Option<i64>,
        hash: Option<&str>,
    ) -> Option<Arc<HeldAsset>> {
        let held = self.entries.get(&asset)?;
        (Some(held.sequence) == sequence && Some(held.hash.as_str()) == hash).then_some(held)
    }

    /// Remembers what a committed transaction left the asset holding.
    pub fn insert(&self, asset: AssetId, held: HeldAsset) {
        self.entries.insert(asset, Arc::new(held));
    }
}

fn weight(held: &HeldAsset) -> u32 {
    let keys: usize = held
        .keys
        .iter()
        .map(|(e, n, v, a)| e.len() + n.len() + v.len() + a.len())
        .sum();
    let findings: usize = held
        .findings
        .iter()
        .map(|f| {
            f.vulnerability_id.len()
                + f.ecosystem.len()
                + f.package_name.len()
                + f.package_version.len()
                + f.fixed_version.as_ref().map_or(0, String::len)
                + f.confidence.len()
                + f.reason.len()
        })
        .sum();
    let bytes = keys
        + held.keys.len() * std::mem::size_of::<PackageKey>()
        + findings
        + held.findings.len() * std::mem::size_of::<StoredFinding>()
        + held.hash.len();
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
        let cache = HeldAssets::default();
        let asset = AssetId::generate();
        assert!(cache.get(asset, Some(1), Some("h1")).is_none());
        cache.insert(
            asset,
            HeldAsset {
                sequence: 1,
                hash: "h1".into(),
                keys: vec![key("left-pad")].into(),
                findings: Vec::new().into(),
            },
        );
        let held = cache.get(asset, Some(1), Some("h1")).expect("a hit");
        assert_eq!(&held.keys[..], &[key("left-pad")]);
        // Another instance applied report 2; retention cleared the hash; a new asset.
        assert!(cache.get(asset, Some(2), Some("h2")).is_none());
        assert!(cache.get(asset, Some(1), None).is_none());
        assert!(cache.get(asset, None, None).is_none());
    }
}
