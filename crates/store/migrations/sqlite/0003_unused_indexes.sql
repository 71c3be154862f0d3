-- Indexes no statement uses go: each one is written for every package and finding row. The
-- findings list filters by optional parameters and walks the primary key; findings_by_asset is
-- a prefix of the findings' unique key. (PostgreSQL's 0004 also reorders the remaining
-- secondary indexes for its generic plans; SQLite plans each statement by its own rules.)

DROP INDEX packages_by_name_version;
DROP INDEX findings_by_asset;
DROP INDEX findings_by_status_severity;
DROP INDEX findings_by_package;
DROP INDEX agents_by_hostname;
DROP INDEX assets_by_last_seen;
DROP INDEX agent_reports_by_batch;

-- Only retention reads it, and only fixed findings: new findings (all open) skip it.
DROP INDEX findings_by_fixed_at;
CREATE INDEX findings_by_fixed_at ON findings (org_id, fixed_at) WHERE status = 'fixed';
