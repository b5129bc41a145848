-- +goose Up
-- The first answer to a POST /core/v2/endpoints that carried an
-- Idempotency-Key, written in the create's own transaction (extensions.md
-- §3). Keys are the partner's own. request_hash fingerprints the decoded
-- body; created_at is Unix milliseconds (a record counts for 24 hours, then
-- the pruner deletes it in small batches, oldest first).
CREATE TABLE idempotency_keys (
    partner_sid  TEXT NOT NULL REFERENCES partners (partner_sid),
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (partner_sid, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
