-- A package or finding row names its asset by (org_id, asset_id). The foreign keys that checked
-- it ran one trigger per row written, a query on the partitioned assets table: measured on 16
-- partitions, 400,000 package rows took 24.1 s to insert with the key and 5.1 s without, so the
-- check was four fifths of a host's first report.
--
-- The rule holds by construction instead: the only writer of both tables is the pipeline's
-- apply, which takes the asset id from the asset row it has just locked in the same transaction
-- (store/src/snapshots.rs, `asset_of_agent!`), and assets are never deleted. SQLite keeps the
-- keys: its checks are in-process index probes.

ALTER TABLE packages DROP CONSTRAINT packages_org_id_asset_id_fkey;
ALTER TABLE findings DROP CONSTRAINT findings_org_id_asset_id_fkey;
