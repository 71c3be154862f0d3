-- Sessions plan each statement once (plan_cache_mode = force_generic_plan, see crates/pgconn)
-- and keep that plan for the connection's life, often made while the tables were still empty.
-- An empty table's statistics estimate one row for `org_id = $1`, so for a statement such as
-- "an asset's packages" (`org_id = $1 AND asset_id = $2`) every index that leads with org_id
-- looks as good as the primary key, and the planner took the smallest: packages_by_match_key,
-- filtering asset_id over all of the organization's rows. A report's package diff cost 13 ms
-- instead of well under one, and grew with the organization.
--
-- So on the partitioned tables only the keys lead with org_id, where the next column narrows to
-- the rows wanted; secondary indexes lead with their own column and carry org_id after it. And
-- indexes no statement uses go: each one is written for every package and finding row.
--
-- Unused: packages_by_name_version, findings_by_asset (a prefix of the findings' unique key),
-- findings_by_status_severity and findings_by_package (the findings list filters by optional
-- parameters and walks the primary key), agents_by_hostname, assets_by_last_seen,
-- agent_reports_by_batch.

DROP INDEX packages_by_name_version;
DROP INDEX packages_by_match_key;
CREATE INDEX packages_by_match_key ON packages (match_ecosystem, match_name, org_id);

DROP INDEX findings_by_asset;
DROP INDEX findings_by_status_severity;
DROP INDEX findings_by_package;
DROP INDEX findings_by_vulnerability;
CREATE INDEX findings_by_vulnerability ON findings (vulnerability_id, org_id);
DROP INDEX findings_by_fixed_at;
-- Only retention reads it, and only fixed findings: new findings (all open) skip it.
CREATE INDEX findings_by_fixed_at ON findings (fixed_at, org_id) WHERE status = 'fixed';

DROP INDEX agents_by_hostname;
DROP INDEX agents_by_last_seen;
CREATE INDEX agents_by_last_seen ON agents (last_seen_at, org_id);

DROP INDEX assets_by_last_seen;
DROP INDEX assets_by_last_inventory;
CREATE INDEX assets_by_last_inventory ON assets (last_inventory_at, org_id);

DROP INDEX agent_reports_by_batch;
DROP INDEX agent_reports_by_received;
CREATE INDEX agent_reports_by_received ON agent_reports (received_at, org_id);
