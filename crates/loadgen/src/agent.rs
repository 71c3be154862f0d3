//! One simulated machine's installed software, and how it drifts between scans.
//!
//! Real fleets hold mostly the same software from one scan to the next, with a few upgrades,
//! removals and installs in between; the server's diffing, its distinct-key matching and its
//! caches are built for exactly that. So each [`SimulatedAgent`] starts from a stable inventory of
//! distinct packages, a share of them known-vulnerable, and every later scan changes about
//! `change_share` of it: half upgraded (to a later version the pool holds, else a bumped one),
//! a quarter removed, a quarter newly installed. Everything is drawn from a seeded generator, so
//! the same seed gives the same inventories. The body sent is the agent crate's own
//! ([`zerotrace_agent::snapshot::Inventory`]): same canonical hash, same gzip JSON.
//!
//! An inventory is held as 8 bytes a package (a pool entry and a bump count), sorted by package,
//! and turned into [`zerotrace_inventory::Package`] records only when a body is built.

use std::cmp::Ordering;
use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::seq::index;
use rand::{Rng, SeedableRng};
use zerotrace_agent::snapshot::{Inventory, SnapshotError};
use zerotrace_inventory::ScanReport;
use zerotrace_inventory::scan::REPORT_SCHEMA;

use crate::pool::{PackagePool, bumped};

/// Tries to find a package the inventory does not have yet before giving up an install.
const INSTALL_ATTEMPTS: usize = 64;

/// What every simulated agent's inventory looks like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgentProfile {
    /// Packages per inventory (fewer if the pool has fewer distinct names).
    pub apps: usize,
    pub vulnerable_share: f64,
    pub change_share: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    entry: u32,
    bump: u16,
}

/// One machine's inventory, changing scan by scan; see the module doc.
pub struct SimulatedAgent {
    rng: StdRng,
    profile: AgentProfile,
    /// Sorted by package (pool group), one slot per package.
    slots: Vec<Slot>,
    sequence: u64,
}

impl SimulatedAgent {
    /// The agent's stable base inventory, drawn with `seed`.
    pub fn new(pool: &PackagePool, seed: u64, profile: AgentProfile) -> SimulatedAgent {
        let mut rng = StdRng::seed_from_u64(seed);
        let total = profile.apps.min(pool.name_count());
        let vulnerable = ((total as f64 * profile.vulnerable_share).round() as usize)
            .min(pool.vulnerable_groups.len());
        let mut base = Base {
            pool,
            rng: &mut rng,
            held: HashSet::with_capacity(total),
            slots: Vec::with_capacity(total),
        };
        base.draw(&pool.vulnerable_groups, vulnerable, true);
        base.draw(&pool.clean_groups, total - base.slots.len(), false);
        // A pool short of clean names fills up with vulnerable ones.
        base.draw(&pool.vulnerable_groups, total - base.slots.len(), true);
        let mut slots = base.slots;
        slots.sort_unstable_by_key(|slot| pool.entries[slot.entry as usize].group);
        SimulatedAgent {
            rng,
            profile,
            slots,
            sequence: 0,
        }
    }

    /// The sequence of the current inventory: 0 before the first scan, then growing by one with
    /// each changed inventory.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Packages in the current inventory.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Scans again: the first scan finds the base inventory, each later one a changed inventory.
    /// `false` when nothing changed (a `change_share` of 0), so there is nothing new to send.
    pub fn scan(&mut self, pool: &PackagePool) -> bool {
        if self.sequence > 0 && !self.change(pool) {
            return false;
        }
        self.sequence += 1;
        true
    }

    /// The current inventory as the agent's collectors report it.
    pub fn report(&self, pool: &PackagePool) -> ScanReport {
        ScanReport {
            schema: REPORT_SCHEMA.to_owned(),
            os: Some(pool.os().clone()),
            packages: self
                .slots
                .iter()
                .map(|slot| pool.package(slot.entry, slot.bump))
                .collect(),
            errors: Vec::new(),
        }
    }

    /// Where `group` is (or would go) in the sorted slots.
    fn position(&self, pool: &PackagePool, group: u32) -> Result<usize, usize> {
        self.slots
            .binary_search_by_key(&group, |slot| pool.entries[slot.entry as usize].group)
    }

    /// Upgrades, removes and installs about `change_share` of the packages; `false` if none.
    fn change(&mut self, pool: &PackagePool) -> bool {
        let held = self.slots.len();
        let mut changes = (held as f64 * self.profile.change_share).round() as usize;
        if self.profile.change_share > 0.0 && held > 0 {
            changes = changes.max(1);
        }
        let changes = changes.min(held);
        if changes == 0 {
            return false;
        }
        let (removals, installs) = (changes / 4, changes / 4);
        let upgrades = changes - removals - installs;
        let mut picked = index::sample(&mut self.rng, held, upgrades + removals).into_vec();
        let mut removed = picked.split_off(upgrades);
        for &i in &picked {
            self.slots[i] = self.upgraded(pool, self.slots[i]);
        }
        removed.sort_unstable_by(|a, b| b.cmp(a));
        for i in removed {
            self.slots.remove(i);
        }
        for _ in 0..installs {
            self.install(pool);
        }
        true
    }

    /// `slot` at a later version: one the pool holds if there is one, else its version bumped.
    fn upgraded(&mut self, pool: &PackagePool, slot: Slot) -> Slot {
        let entry = &pool.entries[slot.entry as usize];
        let group = &pool.groups[entry.group as usize];
        let current = bumped(&entry.version, slot.bump);
        let ecosystem = zerotrace_version::Ecosystem::parse(group.ecosystem.as_str());
        let later: Vec<u32> = group
            .entries
            .iter()
            .copied()
            .filter(|&e| {
                zerotrace_version::compare(&ecosystem, &pool.entries[e as usize].version, &current)
                    .is_ok_and(|order| order == Ordering::Greater)
            })
            .collect();
        if later.is_empty() {
            Slot {
                entry: slot.entry,
                bump: slot.bump.saturating_add(1),
            }
        } else {
            Slot {
                entry: later[self.rng.random_range(0..later.len())],
                bump: 0,
            }
        }
    }

    /// Installs one package the inventory does not have, vulnerable with the profile's share.
    fn install(&mut self, pool: &PackagePool) {
        let vulnerable = !pool.vulnerable_groups.is_empty()
            && self.rng.random_bool(self.profile.vulnerable_share);
        let groups = if vulnerable || pool.clean_groups.is_empty() {
            &pool.vulnerable_groups
        } else {
            &pool.clean_groups
        };
        if groups.is_empty() {
            return;
        }
        for _ in 0..INSTALL_ATTEMPTS {
            let group = groups[self.rng.random_range(0..groups.len())];
            if let Err(at) = self.position(pool, group) {
                let entry = version_of(pool, &mut self.rng, group, vulnerable);
                self.slots.insert(at, Slot { entry, bump: 0 });
                return;
            }
        }
    }
}

/// The base inventory while it is drawn: packages are collected, then sorted once.
struct Base<'a> {
    pool: &'a PackagePool,
    rng: &'a mut StdRng,
    held: HashSet<u32>,
    slots: Vec<Slot>,
}

impl Base<'_> {
    /// `count` more distinct packages from `groups`, each at a vulnerable or a clean version.
    fn draw(&mut self, groups: &[u32], count: usize, vulnerable: bool) {
        if count == 0 || groups.is_empty() {
            return;
        }
        // Enough extra to make up for the ones already held.
        let amount = (count + self.held.len()).min(groups.len());
        let mut added = 0;
        for i in index::sample(self.rng, groups.len(), amount) {
            if added == count {
                break;
            }
            let group = groups[i];
            if self.held.insert(group) {
                let entry = version_of(self.pool, self.rng, group, vulnerable);
                self.slots.push(Slot { entry, bump: 0 });
                added += 1;
            }
        }
    }
}

/// A random version of `group` that an advisory names (`vulnerable`) or that none names; any
/// version when the group has none of that kind.
fn version_of(pool: &PackagePool, rng: &mut StdRng, group: u32, vulnerable: bool) -> u32 {
    let entries = &pool.groups[group as usize].entries;
    let fits = |e: &&u32| pool.entries[**e as usize].advisory.is_some() == vulnerable;
    let fitting = entries.iter().filter(fits).count();
    if fitting == 0 {
        return entries[rng.random_range(0..entries.len())];
    }
    let pick = rng.random_range(0..fitting);
    entries
        .iter()
        .filter(fits)
        .nth(pick)
        .copied()
        .unwrap_or(entries[0])
}

/// An inventory request body, ready to send.
pub struct Body {
    /// The canonical hash inside the body.
    pub hash: String,
    /// Package records in it (after the agent's de-duplication).
    pub records: usize,
    /// gzip-compressed JSON, as `Content-Encoding: gzip`.
    pub gzip: Vec<u8>,
}

/// The body of `POST /api/v1/agents/inventory` for `report` as snapshot `sequence`, built by the
/// agent crate's own snapshot code.
pub fn inventory_body(
    report: &ScanReport,
    sequence: u64,
    scanned_at: &str,
) -> Result<Body, SnapshotError> {
    let inventory = Inventory::new(report)?;
    Ok(Body {
        gzip: inventory.body_gzip(sequence, scanned_at)?,
        records: inventory.len(),
        hash: inventory.hash,
    })
}
