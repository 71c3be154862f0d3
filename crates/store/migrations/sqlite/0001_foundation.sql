-- Global tables: identities and settings that are looked up before an organization is known.

CREATE TABLE organizations (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    id             BLOB PRIMARY KEY,
    org_id         BLOB REFERENCES organizations (id),
    email          TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('platform_admin', 'org_admin', 'analyst', 'viewer')),
    created_at    TEXT NOT NULL,
    last_login_at TEXT,
    disabled_at   TEXT,
    CHECK ((role = 'platform_admin') = (org_id IS NULL))
);
CREATE INDEX users_by_org ON users (org_id, id);

CREATE TABLE refresh_tokens (
    id           BLOB PRIMARY KEY,
    user_id      BLOB NOT NULL REFERENCES users (id),
    family_id    BLOB NOT NULL,
    secret_hash  BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    revoked_at  TEXT
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

CREATE TABLE server_settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- Organization-scoped tables: every one carries org_id first in its key. (On PostgreSQL they are
-- also hash-partitioned by org_id and guarded by row-level security.)

CREATE TABLE api_keys (
    org_id        BLOB NOT NULL REFERENCES organizations (id),
    id            BLOB NOT NULL,
    name          TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    secret_hash   BLOB NOT NULL,
    created_by    BLOB,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT,
    PRIMARY KEY (org_id, id)
);

CREATE TABLE enrollment_tokens (
    org_id       BLOB NOT NULL REFERENCES organizations (id),
    id           BLOB NOT NULL,
    name         TEXT NOT NULL,
    secret_hash  BLOB NOT NULL,
    max_uses     INTEGER,
    uses         INTEGER NOT NULL DEFAULT 0,
    expires_at  TEXT,
    created_by   BLOB,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    PRIMARY KEY (org_id, id)
);

CREATE TABLE agents (
    org_id               BLOB NOT NULL REFERENCES organizations (id),
    id                   BLOB NOT NULL,
    hostname             TEXT NOT NULL,
    os                   TEXT NOT NULL,
    os_version           TEXT NOT NULL,
    arch                 TEXT NOT NULL,
    agent_version        TEXT NOT NULL,
    secret_hash          BLOB NOT NULL,
    enrollment_token_id  BLOB NOT NULL,
    enrolled_at         TEXT NOT NULL,
    last_seen_at        TEXT NOT NULL,
    revoked_at          TEXT,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, enrollment_token_id) REFERENCES enrollment_tokens (org_id, id)
);
CREATE INDEX agents_by_last_seen ON agents (org_id, last_seen_at);
CREATE INDEX agents_by_hostname ON agents (org_id, hostname);

CREATE TABLE assets (
    org_id        BLOB NOT NULL REFERENCES organizations (id),
    id            BLOB NOT NULL,
    agent_id      BLOB,
    kind          TEXT NOT NULL CHECK (kind IN ('host', 'container_image', 'repository', 'other')),
    name          TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, agent_id),
    FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id)
);
CREATE INDEX assets_by_last_seen ON assets (org_id, last_seen_at);

CREATE TABLE packages (
    org_id          BLOB NOT NULL REFERENCES organizations (id),
    asset_id        BLOB NOT NULL,
    ecosystem       TEXT NOT NULL,
    name            TEXT NOT NULL,
    version         TEXT NOT NULL,
    arch            TEXT NOT NULL DEFAULT '',
    source_name     TEXT,
    source_version  TEXT,
    purl            TEXT,
    manager         TEXT NOT NULL,
    first_seen_at  TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL,
    PRIMARY KEY (org_id, asset_id, ecosystem, name, version, arch),
    FOREIGN KEY (org_id, asset_id) REFERENCES assets (org_id, id)
);
CREATE INDEX packages_by_name_version ON packages (org_id, ecosystem, name, version);
CREATE INDEX packages_by_last_seen ON packages (org_id, last_seen_at);

CREATE TABLE findings (
    org_id            BLOB NOT NULL REFERENCES organizations (id),
    id                BLOB NOT NULL,
    asset_id          BLOB NOT NULL,
    vulnerability_id  TEXT NOT NULL,
    ecosystem         TEXT NOT NULL,
    package_name      TEXT NOT NULL,
    package_version   TEXT NOT NULL,
    fixed_version     TEXT,
    severity          TEXT NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low', 'none', 'unknown')),
    cvss_score        REAL,
    known_exploited   INTEGER NOT NULL DEFAULT 0,
    epss_score        REAL,
    status            TEXT NOT NULL CHECK (status IN ('open', 'fixed', 'ignored')),
    first_seen_at    TEXT NOT NULL,
    last_seen_at     TEXT NOT NULL,
    fixed_at         TEXT,
    reopened_count    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, asset_id, vulnerability_id, ecosystem, package_name),
    FOREIGN KEY (org_id, asset_id) REFERENCES assets (org_id, id)
);
CREATE INDEX findings_by_status_severity ON findings (org_id, status, severity);
CREATE INDEX findings_by_vulnerability ON findings (org_id, vulnerability_id);
CREATE INDEX findings_by_asset ON findings (org_id, asset_id);

CREATE TABLE audit_log (
    org_id       BLOB NOT NULL REFERENCES organizations (id),
    id           BLOB NOT NULL,
    at          TEXT NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     BLOB,
    action       TEXT NOT NULL,
    target_kind  TEXT NOT NULL,
    target_id    BLOB,
    detail       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (org_id, id)
);

INSERT INTO server_settings (name, value) VALUES ('partitions', '1');
