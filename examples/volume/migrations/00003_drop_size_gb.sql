-- rollpin:contract after=acme.volume.v1=1.4
-- Contract: once every VolumeService instance runs 1.4 and its pin is 1.4,
-- nothing reads size_gb any more.
-- +goose Up
ALTER TABLE volumes DROP COLUMN size_gb;

-- +goose Down
ALTER TABLE volumes ADD COLUMN size_gb integer NOT NULL DEFAULT 0;
