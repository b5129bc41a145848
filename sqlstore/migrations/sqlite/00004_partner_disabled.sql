-- +goose Up
-- A disabled partner keeps its data, but none of its tokens or its Basic
-- login authenticates any more (switchboard partners disable).
ALTER TABLE partners ADD COLUMN disabled_at TEXT;

-- +goose Down
ALTER TABLE partners DROP COLUMN disabled_at;
