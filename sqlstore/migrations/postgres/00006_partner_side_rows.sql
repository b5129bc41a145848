-- +goose Up
-- A filter's subqueries on the search rows are scoped to the caller's
-- partner (issue 11): the rows carry their endpoint's partner_sid and the
-- indexes lead on it, so a condition on addresses or attributes costs what
-- the caller's own rows cost, never the other partners'. The composite
-- foreign key keeps the copy equal to the endpoint's partner_sid.
CREATE UNIQUE INDEX endpoints_id_partner ON endpoints (id, partner_sid);

ALTER TABLE endpoint_addresses ADD COLUMN partner_sid TEXT COLLATE "C";
UPDATE endpoint_addresses a SET partner_sid = e.partner_sid FROM endpoints e WHERE e.id = a.endpoint_id;
ALTER TABLE endpoint_addresses ALTER COLUMN partner_sid SET NOT NULL;
ALTER TABLE endpoint_addresses ADD CONSTRAINT endpoint_addresses_endpoint_partner
    FOREIGN KEY (endpoint_id, partner_sid) REFERENCES endpoints (id, partner_sid) ON DELETE CASCADE;
DROP INDEX endpoint_addresses_ip;
CREATE INDEX endpoint_addresses_partner_ip ON endpoint_addresses (partner_sid, ip, endpoint_id);

ALTER TABLE endpoint_attributes ADD COLUMN partner_sid TEXT COLLATE "C";
UPDATE endpoint_attributes a SET partner_sid = e.partner_sid FROM endpoints e WHERE e.id = a.endpoint_id;
ALTER TABLE endpoint_attributes ALTER COLUMN partner_sid SET NOT NULL;
ALTER TABLE endpoint_attributes ADD CONSTRAINT endpoint_attributes_endpoint_partner
    FOREIGN KEY (endpoint_id, partner_sid) REFERENCES endpoints (id, partner_sid) ON DELETE CASCADE;
DROP INDEX endpoint_attributes_key_value;
CREATE INDEX endpoint_attributes_partner_key_value ON endpoint_attributes (partner_sid, key, value, endpoint_id);

-- +goose Down
DROP INDEX endpoint_attributes_partner_key_value;
CREATE INDEX endpoint_attributes_key_value ON endpoint_attributes (key, value, endpoint_id);
ALTER TABLE endpoint_attributes DROP COLUMN partner_sid;
DROP INDEX endpoint_addresses_partner_ip;
CREATE INDEX endpoint_addresses_ip ON endpoint_addresses (ip, endpoint_id);
ALTER TABLE endpoint_addresses DROP COLUMN partner_sid;
DROP INDEX endpoints_id_partner;
