-- The ingest pipeline: agent reports (idempotency by sequence), the current package snapshot of
-- each asset with the key the knowledge base indexes it under, the finding lifecycle, and
-- per-organization summaries kept current by the workers.
--
-- A package row exists exactly while the package is in its asset's latest snapshot, and a
-- finding's "last seen" is its asset's last inventory: updating every unchanged row on every
-- report would cost a write per package per report, so those columns go.

DROP INDEX packages_by_last_seen;
ALTER TABLE packages DROP COLUMN last_seen_at;
ALTER TABLE packages ADD COLUMN match_ecosystem TEXT NOT NULL DEFAULT '';
ALTER TABLE packages ADD COLUMN match_name TEXT NOT NULL DEFAULT '';
CREATE INDEX packages_by_match_key ON packages (org_id, match_ecosystem, match_name);

ALTER TABLE assets ADD COLUMN os TEXT NOT NULL DEFAULT '';
ALTER TABLE assets ADD COLUMN inventory_sequence INTEGER;
ALTER TABLE assets ADD COLUMN inventory_hash TEXT;
ALTER TABLE assets ADD COLUMN last_inventory_at TEXT;
CREATE INDEX assets_by_last_inventory ON assets (org_id, last_inventory_at);

ALTER TABLE findings DROP COLUMN last_seen_at;
ALTER TABLE findings ADD COLUMN confidence TEXT NOT NULL DEFAULT '';
ALTER TABLE findings ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE findings ADD COLUMN updated_at TEXT;
CREATE INDEX findings_by_package ON findings (org_id, ecosystem, package_name);
CREATE INDEX findings_by_fixed_at ON findings (org_id, status, fixed_at);

ALTER TABLE agents ADD COLUMN online INTEGER NOT NULL DEFAULT 1;
ALTER TABLE agents ADD COLUMN cpu_percent REAL;
ALTER TABLE agents ADD COLUMN rss_bytes INTEGER;

-- Per-organization overrides of the ingest rate limits (requests per minute); NULL: the default.
ALTER TABLE organizations ADD COLUMN org_requests_per_minute INTEGER;
ALTER TABLE organizations ADD COLUMN agent_requests_per_minute INTEGER;

CREATE TABLE agent_reports (
    org_id         BLOB NOT NULL REFERENCES organizations (id),
    agent_id       BLOB NOT NULL,
    sequence       INTEGER NOT NULL,
    batch_id       BLOB NOT NULL,
    hash           TEXT NOT NULL,
    package_count  INTEGER NOT NULL,
    received_at    TEXT NOT NULL,
    processed_at   TEXT,
    outcome        TEXT CHECK (outcome IN ('applied', 'stale')),
    PRIMARY KEY (org_id, agent_id, sequence),
    FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id)
);
CREATE INDEX agent_reports_by_batch ON agent_reports (org_id, batch_id);
CREATE INDEX agent_reports_by_received ON agent_reports (org_id, received_at);

CREATE TABLE org_summaries (
    org_id                BLOB NOT NULL REFERENCES organizations (id),
    open_critical         INTEGER NOT NULL DEFAULT 0,
    open_high             INTEGER NOT NULL DEFAULT 0,
    open_medium           INTEGER NOT NULL DEFAULT 0,
    open_low              INTEGER NOT NULL DEFAULT 0,
    open_none             INTEGER NOT NULL DEFAULT 0,
    open_unknown          INTEGER NOT NULL DEFAULT 0,
    open_known_exploited  INTEGER NOT NULL DEFAULT 0,
    open_fixable          INTEGER NOT NULL DEFAULT 0,
    fixed_total           INTEGER NOT NULL DEFAULT 0,
    updated_at            TEXT NOT NULL,
    PRIMARY KEY (org_id)
);
