-- The ingest pipeline: agent reports (idempotency by sequence), the current package snapshot of
-- each asset with the key the knowledge base indexes it under, the finding lifecycle, and
-- per-organization summaries kept current by the workers.
--
-- A package row exists exactly while the package is in its asset's latest snapshot, and a
-- finding's "last seen" is its asset's last inventory: updating every unchanged row on every
-- report would cost a write per package per report, so those columns go.

DROP INDEX packages_by_last_seen;
ALTER TABLE packages DROP COLUMN last_seen_at;
ALTER TABLE packages ADD COLUMN match_ecosystem text NOT NULL DEFAULT '';
ALTER TABLE packages ADD COLUMN match_name text NOT NULL DEFAULT '';
CREATE INDEX packages_by_match_key ON packages (org_id, match_ecosystem, match_name);

ALTER TABLE assets ADD COLUMN os text NOT NULL DEFAULT '';
ALTER TABLE assets ADD COLUMN inventory_sequence bigint;
ALTER TABLE assets ADD COLUMN inventory_hash text;
ALTER TABLE assets ADD COLUMN last_inventory_at timestamptz;
CREATE INDEX assets_by_last_inventory ON assets (org_id, last_inventory_at);

ALTER TABLE findings DROP COLUMN last_seen_at;
ALTER TABLE findings ADD COLUMN confidence text NOT NULL DEFAULT '';
ALTER TABLE findings ADD COLUMN reason text NOT NULL DEFAULT '';
ALTER TABLE findings ADD COLUMN updated_at timestamptz;
CREATE INDEX findings_by_package ON findings (org_id, ecosystem, package_name);
CREATE INDEX findings_by_fixed_at ON findings (org_id, status, fixed_at);

ALTER TABLE agents ADD COLUMN online boolean NOT NULL DEFAULT true;
ALTER TABLE agents ADD COLUMN cpu_percent double precision;
ALTER TABLE agents ADD COLUMN rss_bytes bigint;

-- Per-organization overrides of the ingest rate limits (requests per minute); NULL: the default.
ALTER TABLE organizations ADD COLUMN org_requests_per_minute bigint;
ALTER TABLE organizations ADD COLUMN agent_requests_per_minute bigint;

CREATE TABLE agent_reports (
    org_id         uuid NOT NULL REFERENCES organizations (id),
    agent_id       uuid NOT NULL,
    sequence       bigint NOT NULL,
    batch_id       uuid NOT NULL,
    hash           text NOT NULL,
    package_count  bigint NOT NULL,
    received_at    timestamptz NOT NULL,
    processed_at   timestamptz,
    outcome        text CHECK (outcome IN ('applied', 'stale')),
    PRIMARY KEY (org_id, agent_id, sequence),
    FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id)
) PARTITION BY HASH (org_id);
CREATE INDEX agent_reports_by_batch ON agent_reports (org_id, batch_id);
CREATE INDEX agent_reports_by_received ON agent_reports (org_id, received_at);

CREATE TABLE org_summaries (
    org_id                uuid NOT NULL REFERENCES organizations (id),
    open_critical         bigint NOT NULL DEFAULT 0,
    open_high             bigint NOT NULL DEFAULT 0,
    open_medium           bigint NOT NULL DEFAULT 0,
    open_low              bigint NOT NULL DEFAULT 0,
    open_none             bigint NOT NULL DEFAULT 0,
    open_unknown          bigint NOT NULL DEFAULT 0,
    open_known_exploited  bigint NOT NULL DEFAULT 0,
    open_fixable          bigint NOT NULL DEFAULT 0,
    fixed_total           bigint NOT NULL DEFAULT 0,
    updated_at            timestamptz NOT NULL,
    PRIMARY KEY (org_id)
) PARTITION BY HASH (org_id);

DO $$
DECLARE
    partition_count integer := (SELECT value::integer FROM server_settings WHERE name = 'partitions');
    scoped_table text;
    partition_name text;
    remainder integer;
BEGIN
    FOREACH scoped_table IN ARRAY ARRAY['agent_reports', 'org_summaries'] LOOP
        FOR remainder IN 0 .. partition_count - 1 LOOP
            partition_name := scoped_table || '_p' || remainder;
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                           partition_name, scoped_table, partition_count, remainder);
            EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', partition_name);
            EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', partition_name);
            EXECUTE format($p$CREATE POLICY org_isolation ON %I
                USING (org_id = nullif(current_setting('zerotrace.org_id', true), '')::uuid)
                WITH CHECK (org_id = nullif(current_setting('zerotrace.org_id', true), '')::uuid)$p$,
                partition_name);
        END LOOP;
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', scoped_table);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', scoped_table);
        EXECUTE format($p$CREATE POLICY org_isolation ON %I
            USING (org_id = nullif(current_setting('zerotrace.org_id', true), '')::uuid)
            WITH CHECK (org_id = nullif(current_setting('zerotrace.org_id', true), '')::uuid)$p$,
            scoped_table);
    END LOOP;
END
$$;
