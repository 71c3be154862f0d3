-- Global tables: identities and settings that are looked up before an organization is known.

CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    slug        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    org_id         uuid REFERENCES organizations (id),
    email          text NOT NULL UNIQUE,
    display_name   text NOT NULL,
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('platform_admin', 'org_admin', 'analyst', 'viewer')),
    created_at     timestamptz NOT NULL,
    last_login_at  timestamptz,
    disabled_at    timestamptz,
    CHECK ((role = 'platform_admin') = (org_id IS NULL))
);
CREATE INDEX users_by_org ON users (org_id, id);

CREATE TABLE refresh_tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id),
    family_id    uuid NOT NULL,
    secret_hash  bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

CREATE TABLE server_settings (
    name   text PRIMARY KEY,
    value  text NOT NULL
);

-- Organization-scoped tables. Every one carries org_id first in its key, is hash-partitioned by it
-- (the partitions and row-level-security policies are created below) and, past one host, org_id is
-- its Citus distribution column.

CREATE TABLE api_keys (
    org_id        uuid NOT NULL REFERENCES organizations (id),
    id            uuid NOT NULL,
    name          text NOT NULL,
    scopes        text NOT NULL,
    secret_hash   bytea NOT NULL,
    created_by    uuid,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    PRIMARY KEY (org_id, id)
) PARTITION BY HASH (org_id);

CREATE TABLE enrollment_tokens (
    org_id       uuid NOT NULL REFERENCES organizations (id),
    id           uuid NOT NULL,
    name         text NOT NULL,
    secret_hash  bytea NOT NULL,
    max_uses     bigint,
    uses         bigint NOT NULL DEFAULT 0,
    expires_at   timestamptz,
    created_by   uuid,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    PRIMARY KEY (org_id, id)
) PARTITION BY HASH (org_id);

CREATE TABLE agents (
    org_id               uuid NOT NULL REFERENCES organizations (id),
    id                   uuid NOT NULL,
    hostname             text NOT NULL,
    os                   text NOT NULL,
    os_version           text NOT NULL,
    arch                 text NOT NULL,
    agent_version        text NOT NULL,
    secret_hash          bytea NOT NULL,
    enrollment_token_id  uuid NOT NULL,
    enrolled_at          timestamptz NOT NULL,
    last_seen_at         timestamptz NOT NULL,
    revoked_at           timestamptz,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, enrollment_token_id) REFERENCES enrollment_tokens (org_id, id)
) PARTITION BY HASH (org_id);
CREATE INDEX agents_by_last_seen ON agents (org_id, last_seen_at);
CREATE INDEX agents_by_hostname ON agents (org_id, hostname);

CREATE TABLE assets (
    org_id        uuid NOT NULL REFERENCES organizations (id),
    id            uuid NOT NULL,
    agent_id      uuid,
    kind          text NOT NULL CHECK (kind IN ('host', 'container_image', 'repository', 'other')),
    name          text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, agent_id),
    FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id)
) PARTITION BY HASH (org_id);
CREATE INDEX assets_by_last_seen ON assets (org_id, last_seen_at);

CREATE TABLE packages (
    org_id          uuid NOT NULL REFERENCES organizations (id),
    asset_id        uuid NOT NULL,
    ecosystem       text NOT NULL,
    name            text NOT NULL,
    version         text NOT NULL,
    arch            text NOT NULL DEFAULT '',
    source_name     text,
    source_version  text,
    purl            text,
    manager         text NOT NULL,
    first_seen_at   timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    PRIMARY KEY (org_id, asset_id, ecosystem, name, version, arch),
    FOREIGN KEY (org_id, asset_id) REFERENCES assets (org_id, id)
) PARTITION BY HASH (org_id);
CREATE INDEX packages_by_name_version ON packages (org_id, ecosystem, name, version);
CREATE INDEX packages_by_last_seen ON packages (org_id, last_seen_at);

CREATE TABLE findings (
    org_id            uuid NOT NULL REFERENCES organizations (id),
    id                uuid NOT NULL,
    asset_id          uuid NOT NULL,
    vulnerability_id  text NOT NULL,
    ecosystem         text NOT NULL,
    package_name      text NOT NULL,
    package_version   text NOT NULL,
    fixed_version     text,
    severity          text NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low', 'none', 'unknown')),
    cvss_score        double precision,
    known_exploited   boolean NOT NULL DEFAULT false,
    epss_score        double precision,
    status            text NOT NULL CHECK (status IN ('open', 'fixed', 'ignored')),
    first_seen_at     timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    fixed_at          timestamptz,
    reopened_count    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, asset_id, vulnerability_id, ecosystem, package_name),
    FOREIGN KEY (org_id, asset_id) REFERENCES assets (org_id, id)
) PARTITION BY HASH (org_id);
CREATE INDEX findings_by_status_severity ON findings (org_id, status, severity);
CREATE INDEX findings_by_vulnerability ON findings (org_id, vulnerability_id);
CREATE INDEX findings_by_asset ON findings (org_id, asset_id);

CREATE TABLE audit_log (
    org_id       uuid NOT NULL REFERENCES organizations (id),
    id           uuid NOT NULL,
    at           timestamptz NOT NULL,
    actor_kind   text NOT NULL,
    actor_id     uuid,
    action       text NOT NULL,
    target_kind  text NOT NULL,
    target_id    uuid,
    detail       text NOT NULL DEFAULT '',
    PRIMARY KEY (org_id, id)
) PARTITION BY HASH (org_id);

-- Partitions and the second wall. The partition count comes from the session setting
-- `zerotrace.partitions` that `Store::migrate` sets before running migrations (default 16); it
-- is fixed from then on and recorded in server_settings.
--
-- Row-level security: a row is visible only when its org_id equals the transaction-local setting
-- `zerotrace.org_id`, which the store sets from the OrgScope at the start of every org-scoped
-- transaction. FORCE makes the policy bind the table owner too; superusers still bypass it, so
-- ZeroTrace warns at start when it connects as one.
DO $$
DECLARE
    partition_count integer := coalesce(nullif(current_setting('zerotrace.partitions', true), '')::integer, 16);
    scoped_table text;
    partition_name text;
    remainder integer;
BEGIN
    FOREACH scoped_table IN ARRAY ARRAY['api_keys', 'enrollment_tokens', 'agents', 'assets', 'packages', 'findings', 'audit_log'] LOOP
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
    INSERT INTO server_settings (name, value) VALUES ('partitions', partition_count::text);
END
$$;
