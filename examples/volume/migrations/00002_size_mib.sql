-- Expand for API 1.4, run before the first 1.4 server starts: 1.4 stores
-- sizes in MiB. 1.3 servers do not know the column and keep working; 1.4
-- servers write both columns and backfill old rows online, in batches:
--   UPDATE volumes SET size_mib = size_gb * 1024
--   WHERE id IN (SELECT id FROM volumes WHERE size_mib IS NULL LIMIT 50
--                FOR UPDATE SKIP LOCKED);
-- size_gb may not be dropped yet: 1.3 servers still read it.
-- +goose Up
ALTER TABLE volumes ADD COLUMN size_mib bigint;

-- +goose Down
ALTER TABLE volumes DROP COLUMN size_mib;
