-- +goose Up
-- The change feed (docs/change-feed.md). Every write transaction that
-- changes an endpoint ends by recording its changes: it takes the next
-- global position (change_feed_position, one row) and the partner's next
-- revision (partner_revisions), whose row locks it holds through its commit,
-- so positions and revisions become visible in their order.
CREATE TABLE change_feed_position (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    position BIGINT NOT NULL
);
INSERT INTO change_feed_position (id, position) VALUES (1, 0);

-- The partner's latest revision; no row yet: 0.
CREATE TABLE partner_revisions (
    partner_sid TEXT PRIMARY KEY REFERENCES partners (partner_sid),
    revision    BIGINT NOT NULL CHECK (revision > 0)
);

-- One row per change. endpoint is the endpoint's JSON after the change (for
-- deleted, its last state); occurred_at is microseconds since 1970 UTC.
CREATE TABLE endpoint_changes (
    position     INTEGER PRIMARY KEY,
    partner_sid  TEXT NOT NULL,
    revision     BIGINT NOT NULL,
    operation    TEXT NOT NULL CHECK (operation IN ('created', 'updated', 'deleted')),
    endpoint_sid TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL,
    endpoint     TEXT NOT NULL,
    UNIQUE (partner_sid, revision)
);

-- +goose Down
DROP TABLE endpoint_changes;
DROP TABLE partner_revisions;
DROP TABLE change_feed_position;
