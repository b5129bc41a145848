-- +goose Up
-- A filter's subqueries on the search rows are scoped to the caller's
-- partner (issue 11): the rows carry their endpoint's partner_sid and the
-- indexes lead on it, so a condition on addresses or attributes costs what
-- the caller's own rows cost, never the other partners'. The composite
-- foreign key keeps the copy equal to the endpoint's partner_sid.
-- SQLite cannot add a NOT NULL column without a default, or a foreign key,
-- to a table: both tables are rebuilt.
CREATE UNIQUE INDEX endpoints_id_partner ON endpoints (id, partner_sid);

CREATE TABLE endpoint_addresses_scoped (
    endpoint_id  INTEGER NOT NULL,
    partner_sid  TEXT NOT NULL,
    position     INTEGER NOT NULL,
    direction    TEXT NOT NULL,
    dst_port     INTEGER NOT NULL,
    ip           TEXT NOT NULL,
    location_sid TEXT,
    port         INTEGER NOT NULL,
    priority     INTEGER NOT NULL,
    sip_username TEXT,
    srtp         INTEGER NOT NULL,
    transport    TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, position),
    FOREIGN KEY (endpoint_id, partner_sid) REFERENCES endpoints (id, partner_sid) ON DELETE CASCADE
);
INSERT INTO endpoint_addresses_scoped (endpoint_id, partner_sid, position, direction, dst_port, ip, location_sid, port, priority, sip_username, srtp, transport)
    SELECT a.endpoint_id, e.partner_sid, a.position, a.direction, a.dst_port, a.ip, a.location_sid, a.port, a.priority, a.sip_username, a.srtp, a.transport
    FROM endpoint_addresses a JOIN endpoints e ON e.id = a.endpoint_id;
DROP TABLE endpoint_addresses;
ALTER TABLE endpoint_addresses_scoped RENAME TO endpoint_addresses;
CREATE INDEX endpoint_addresses_partner_ip ON endpoint_addresses (partner_sid, ip, endpoint_id);

CREATE TABLE endpoint_attributes_scoped (
    endpoint_id INTEGER NOT NULL,
    partner_sid TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, key),
    FOREIGN KEY (endpoint_id, partner_sid) REFERENCES endpoints (id, partner_sid) ON DELETE CASCADE
);
INSERT INTO endpoint_attributes_scoped (endpoint_id, partner_sid, key, value)
    SELECT a.endpoint_id, e.partner_sid, a.key, a.value
    FROM endpoint_attributes a JOIN endpoints e ON e.id = a.endpoint_id;
DROP TABLE endpoint_attributes;
ALTER TABLE endpoint_attributes_scoped RENAME TO endpoint_attributes;
CREATE INDEX endpoint_attributes_partner_key_value ON endpoint_attributes (partner_sid, key, value, endpoint_id);

-- +goose Down
CREATE TABLE endpoint_addresses_unscoped (
    endpoint_id  INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    direction    TEXT NOT NULL,
    dst_port     INTEGER NOT NULL,
    ip           TEXT NOT NULL,
    location_sid TEXT,
    port         INTEGER NOT NULL,
    priority     INTEGER NOT NULL,
    sip_username TEXT,
    srtp         INTEGER NOT NULL,
    transport    TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, position)
);
INSERT INTO endpoint_addresses_unscoped (endpoint_id, position, direction, dst_port, ip, location_sid, port, priority, sip_username, srtp, transport)
    SELECT endpoint_id, position, direction, dst_port, ip, location_sid, port, priority, sip_username, srtp, transport FROM endpoint_addresses;
DROP TABLE endpoint_addresses;
ALTER TABLE endpoint_addresses_unscoped RENAME TO endpoint_addresses;
CREATE INDEX endpoint_addresses_ip ON endpoint_addresses (ip, endpoint_id);

CREATE TABLE endpoint_attributes_unscoped (
    endpoint_id INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, key)
);
INSERT INTO endpoint_attributes_unscoped (endpoint_id, key, value) SELECT endpoint_id, key, value FROM endpoint_attributes;
DROP TABLE endpoint_attributes;
ALTER TABLE endpoint_attributes_unscoped RENAME TO endpoint_attributes;
CREATE INDEX endpoint_attributes_key_value ON endpoint_attributes (key, value, endpoint_id);

DROP INDEX endpoints_id_partner;
