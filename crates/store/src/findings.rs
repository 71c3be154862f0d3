//! Findings (a vulnerability applying to a package on an asset) and the organization summary the
//! workers keep current with them.

use std::fmt;
use std::str::FromStr;

use crate::{AssetId, FindingId, OrgScope, Page, Result, Store};
use time::OffsetDateTime;

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(value: &str) -> std::result::Result<Self, Self::Err> {
                match value {
                    $($text => Ok($name::$variant),)*
                    other => Err(format!(
                        "unknown {} {other:?} (expected one of: {})",
                        stringify!($name).to_lowercase(),
                        [$($text),*].join(", ")
                    )),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(value: String) -> std::result::Result<Self, Self::Error> {
                value.parse()
            }
        }
    };
}

text_enum! {
    /// The qualitative severity (CVSS v3/v4 bands, or a distribution's rating).
    Severity {
        Critical => "critical",
        High => "high",
        Medium => "medium",
        Low => "low",
        None => "none",
        Unknown => "unknown",
    }
}

text_enum! {
    FindingStatus {
        Open => "open",
        Fixed => "fixed",
        Ignored => "ignored",
    }
}

impl Severity {
    /// Position in [`SummaryDelta::open`] and in [`Summary`]'s counts.
    pub fn index(self) -> usize {
        match self {
            Severity::Critical => 0,
            Severity::High => 1,
            Severity::Medium => 2,
            Severity::Low => 3,
            Severity::None => 4,
            Severity::Unknown => 5,
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Finding {
    pub id: FindingId,
    pub asset_id: AssetId,
    pub vulnerability_id: String,
    pub ecosystem: String,
    pub package_name: String,
    pub package_version: String,
    pub fixed_version: Option<String>,
    #[sqlx(try_from = "String")]
    pub severity: Severity,
    pub cvss_score: Option<f64>,
    pub known_exploited: bool,
    pub epss_score: Option<f64>,
    #[sqlx(try_from = "String")]
    pub status: FindingStatus,
    pub confidence: String,
    pub reason: String,
    pub first_seen_at: OffsetDateTime,
    pub fixed_at: Option<OffsetDateTime>,
    pub updated_at: Option<OffsetDateTime>,
    pub reopened_count: i64,
}

macro_rules! finding_columns {
    () => {
        "id, asset_id, vulnerability_id, ecosystem, package_name, package_version, fixed_version, \
         severity, cvss_score, known_exploited, epss_score, status, confidence, reason, \
         first_seen_at, fixed_at, updated_at, reopened_count"
    };
}

/// Which findings a listing returns; every field narrows it.
#[derive(Clone, Debug, Default)]
pub struct FindingFilter {
    pub severities: Vec<Severity>,
    pub known_exploited: Option<bool>,
    pub epss_min: Option<f64>,
    pub fixable: Option<bool>,
    pub status: Option<FindingStatus>,
    pub asset_id: Option<AssetId>,
    pub vulnerability_id: Option<String>,
    /// Exact package name.
    pub package: Option<String>,
    /// Case-insensitive substring of the vulnerability id or package name.
    pub text: Option<String>,
}

impl FindingFilter {
    fn text_pattern(&self) -> Option<String> {
        self.text.as_ref().map(|text| {
            let escaped = text
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        })
    }
}

/// An organization's counts, as the dashboard shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Open findings by [`Severity::index`].
    pub open: [i64; 6],
    pub open_known_exploited: i64,
    pub open_fixable: i64,
    pub fixed_total: i64,
    pub assets: i64,
    pub agents_online: i64,
    pub agents_offline: i64,
    pub updated_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    open_critical: i64,
    open_high: i64,
    open_medium: i64,
    open_low: i64,
    open_none: i64,
    open_unknown: i64,
    open_known_exploited: i64,
    open_fixable: i64,
    fixed_total: i64,
    updated_at: OffsetDateTime,
}

impl Store {
    /// One page of the organization's findings in id order. The statement names only the
    /// filters given, so each filter shape gets a plan of its own (the asset's key where an
    /// asset is named) instead of one plan for all shapes that walks the organization's key.
    /// There is no index by vulnerability (SQLite migration 0005, PostgreSQL 0006): every
    /// finding written paid for it.
    pub async fn list_findings(
        &self,
        scope: OrgScope,
        filter: &FindingFilter,
        page: Page,
    ) -> Result<Vec<Finding>> {
        let pattern = filter.text_pattern();
        Ok(scoped!(self, scope, Read, |tx| {
            let mut query = sqlx::QueryBuilder::new(concat!(
                "SELECT ",
                finding_columns!(),
                " FROM findings WHERE org_id = "
            ));
            query.push_bind(scope.org_id());
            query.push(" AND id > ").push_bind(page.after_bound());
            if !filter.severities.is_empty() {
                query.push(" AND severity IN (");
                let mut list = query.separated(", ");
                for severity in &filter.severities {
                    list.push_bind(severity.as_str());
                }
                list.push_unseparated(")");
            }
            if let Some(known_exploited) = filter.known_exploited {
                query
                    .push(" AND known_exploited = ")
                    .push_bind(known_exploited);
            }
            if let Some(epss_min) = filter.epss_min {
                query.push(" AND epss_score >= ").push_bind(epss_min);
            }
            if let Some(fixable) = filter.fixable {
                query.push(if fixable {
                    " AND fixed_version IS NOT NULL"
                } else {
                    " AND fixed_version IS NULL"
                });
            }
            if let Some(status) = filter.status {
                query.push(" AND status = ").push_bind(status.as_str());
            }
            if let Some(asset_id) = filter.asset_id {
                query.push(" AND asset_id = ").push_bind(asset_id);
            }
            if let Some(vulnerability_id) = &filter.vulnerability_id {
                query
                    .push(" AND vulnerability_id = ")
                    .push_bind(vulnerability_id);
            }
            if let Some(package) = &filter.package {
                query.push(" AND package_name = ").push_bind(package);
            }
            if let Some(pattern) = &pattern {
                query
                    .push(" AND (lower(vulnerability_id) LIKE ")
                    .push_bind(pattern)
                    .push(" ESCAPE '\\' OR lower(package_name) LIKE ")
                    .push_bind(pattern)
                    .push(" ESCAPE '\\')");
            }
            query
                .push(" ORDER BY id LIMIT ")
                .push_bind(page.limit_bound());
            query
                .build_query_as::<Finding>()
                .fetch_all(&mut *tx)
                .await?
        }))
    }

    pub async fn get_finding(&self, scope: OrgScope, id: FindingId) -> Result<Option<Finding>> {
        Ok(scoped!(self, scope, Read, |tx| {
            sqlx::query_as::<_, Finding>(concat!(
                "SELECT ",
                finding_columns!(),
                " FROM findings WHERE org_id = $1 AND id = $2"
            ))
            .bind(scope.org_id())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        }))
    }

    /// The organization's counts. Finding counts are the workers' running totals; agent
    /// online/offline is read from `last_seen_at` against `offline_before`.
    pub async fn summary(
        &self,
        scope: OrgScope,
        offline_before: OffsetDateTime,
    ) -> Result<Summary> {
        Ok(scoped!(self, scope, Read, |tx| {
            let row = sqlx::query_as::<_, SummaryRow>(
                "SELECT open_critical, open_high, open_medium, open_low, open_none, open_unknown,
                        open_known_exploited, open_fixable, fixed_total, updated_at
                 FROM org_summaries WHERE org_id = $1",
            )
            .bind(scope.org_id())
            .fetch_optional(&mut *tx)
            .await?;
            let (online, offline): (i64, i64) = sqlx::query_as(
                "SELECT coalesce(sum(CASE WHEN last_seen_at >= $2 THEN 1 ELSE 0 END), 0),
                        coalesce(sum(CASE WHEN last_seen_at < $2 THEN 1 ELSE 0 END), 0)
                 FROM agents WHERE org_id = $1 AND revoked_at IS NULL",
            )
            .bind(scope.org_id())
            .bind(offline_before)
            .fetch_one(&mut *tx)
            .await?;
            let assets: i64 = sqlx::query_scalar("SELECT count(*) FROM assets WHERE org_id = $1")
                .bind(scope.org_id())
                .fetch_one(&mut *tx)
                .await?;
            let mut summary = Summary {
                assets,
                agents_online: online,
                agents_offline: offline,
                ..Summary::default()
            };
            if let Some(row) = row {
                summary.open = [
                    row.open_critical,
                    row.open_high,
                    row.open_medium,
                    row.open_low,
                    row.open_none,
                    row.open_unknown,
                ];
                summary.open_known_exploited = row.open_known_exploited;
                summary.open_fixable = row.open_fixable;
                summary.fixed_total = row.fixed_total;
                summary.updated_at = Some(row.updated_at);
            }
            summary
        }))
    }
}
