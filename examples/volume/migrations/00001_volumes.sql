-- The volume service at API 1.3 stores sizes in GB.
-- +goose Up
CREATE TABLE volumes (
    id      bigint PRIMARY KEY,
    name    text NOT NULL,
    size_gb integer NOT NULL DEFAULT 0
);
CREATE INDEX volumes_name ON volumes (name);

-- +goose Down
DROP TABLE volumes;
