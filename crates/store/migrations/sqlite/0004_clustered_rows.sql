-- Packages become a clustered table (WITHOUT ROWID): a row lives in its primary key's B-tree,
-- under its asset, instead of in a rowid table beside a separate key index and an index in
-- match-key order. SQLite has one writer and a commit writes every page its inserts touched; an
-- inventory's packages now land on a few neighbouring pages of one B-tree instead of on a page
-- per row of the match-key index. Only re-matching read that index; it now scans the
-- organization's packages, once per changed advisory instead of a write per package row.
-- (Findings stay a rowid table: clustered, every read through their asset index paid a
-- composite-key search per row, and the pipeline ran at half the rate.)

CREATE TABLE packages_clustered (
    org_id           BLOB NOT NULL REFERENCES organizations (id),
    asset_id         BLOB NOT NULL,
    ecosystem        TEXT NOT NULL,
    name             TEXT NOT NULL,
    version          TEXT NOT NULL,
    arch             TEXT NOT NULL DEFAULT '',
    source_name      TEXT,
    source_version   TEXT,
    purl             TEXT,
    manager          TEXT NOT NULL,
    first_seen_at    TEXT NOT NULL,
    match_ecosystem  TEXT NOT NULL DEFAULT '',
    match_name       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (org_id, asset_id, ecosystem, name, version, arch),
    FOREIGN KEY (org_id, asset_id) REFERENCES assets (org_id, id)
) WITHOUT ROWID;
INSERT INTO packages_clustered
    (org_id, asset_id, ecosystem, name, version, arch, source_name, source_version, purl,
     manager, first_seen_at, match_ecosystem, match_name)
SELECT org_id, asset_id, ecosystem, name, version, arch, source_name, source_version, purl,
       manager, first_seen_at, match_ecosystem, match_name
FROM packages;
DROP TABLE packages;
ALTER TABLE packages_clustered RENAME TO packages;
