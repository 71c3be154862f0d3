//! Scheduled cleanup: what an organization's data stops needing.
//! - Packages of assets that have not reported for the package retention (default 90 days): the
//!   asset's software is unknown now, so its open findings are closed with them.
//! - Fixed findings past the fixed-finding retention.
//! - Agent report receipts past the report retention (they only guard against duplicates).

use time::OffsetDateTime;

use crate::lifecycle::SummaryDelta;
use crate::snapshots::FindingRows;
use crate::{AssetId, OrgScope, Result, Store};

#[derive(Clone, Copy, Debug)]
pub struct RetentionCutoffs {
    /// Assets whose last inventory is older lose their packages.
    pub packages_before: OffsetDateTime,
    /// Fixed findings fixed before this are deleted.
    pub fixed_findings_before: OffsetDateTime,
    /// Report receipts received before this are deleted.
    pub reports_before: OffsetDateTime,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub packages_deleted: u64,
    pub findings_closed: u64,
    pub fixed_findings_deleted: u64,
    pub reports_deleted: u64,
}

impl Store {
    /// Applies the retention cutoffs to one organization, in one transaction.
    pub async fn apply_retention(
        &self,
        scope: OrgScope,
        cutoffs: RetentionCutoffs,
    ) -> Result<RetentionOutcome> {
        let now = OffsetDateTime::now_utc();
        Ok(scoped!(self, scope, Write, |tx| {
            let mut outcome = RetentionOutcome::default();
            // Clearing the hash locks the rows against workers applying a report meanwhile, and
            // tells a worker's memory of the assets' rows (`snapshots/held.rs`) it is stale.
            let stale: Vec<AssetId> = sqlx::query_scalar(
                "UPDATE assets SET inventory_hash = NULL
                 WHERE org_id = $1 AND last_inventory_at < $2
                   AND EXISTS (SELECT 1 FROM packages p WHERE p.org_id = assets.org_id AND p.asset_id = assets.id)
                 RETURNING id",
            )
            .bind(scope.org_id())
            .bind(cutoffs.packages_before)
            .fetch_all(&mut *tx)
            .await?;
            for asset in stale {
                outcome.packages_deleted +=
                    sqlx::query("DELETE FROM packages WHERE org_id = $1 AND asset_id = $2")
                        .bind(scope.org_id())
                        .bind(asset)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                let changes = crate::snapshots::reconcile(&mut tx, scope, asset, &[], now).await?;
                tx.add_to_summary(scope, &changes.summary, now).await?;
                outcome.findings_closed += u64::try_from(changes.fixed).unwrap_or_default();
            }

            // The assets losing fixed findings: a worker remembering one would otherwise reopen
            // it by an id that no longer exists.
            sqlx::query(
                "UPDATE assets SET inventory_hash = NULL
                 WHERE org_id = $1 AND id IN (SELECT f.asset_id FROM findings f
                     WHERE f.org_id = $1 AND f.status = 'fixed' AND f.fixed_at < $2)",
            )
            .bind(scope.org_id())
            .bind(cutoffs.fixed_findings_before)
            .execute(&mut *tx)
            .await?;
            outcome.fixed_findings_deleted = sqlx::query(
                "DELETE FROM findings WHERE org_id = $1 AND status = 'fixed' AND fixed_at < $2",
            )
            .bind(scope.org_id())
            .bind(cutoffs.fixed_findings_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let delta = SummaryDelta {
                fixed: -i64::try_from(outcome.fixed_findings_deleted).unwrap_or(i64::MAX),
                ..SummaryDelta::default()
            };
            tx.add_to_summary(scope, &delta, now).await?;

            outcome.reports_deleted = sqlx::query(
                "DELETE FROM agent_reports WHERE org_id = $1 AND received_at < $2 AND processed_at IS NOT NULL",
            )
            .bind(scope.org_id())
            .bind(cutoffs.reports_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            outcome
        }))
    }
}
