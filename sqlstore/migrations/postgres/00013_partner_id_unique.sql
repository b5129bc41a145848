-- +goose Up
-- The search rows' composite foreign key refers to (partner_sid, id), which
-- the list index endpoints_partner_id already holds, now unique, instead of
-- a second index on (id, partner_sid): one index less for every create to
-- write (the SQLite migration says why it matters more there).
DROP INDEX endpoints_partner_id;
CREATE UNIQUE INDEX endpoints_partner_id ON endpoints (partner_sid, id);

ALTER TABLE endpoint_addresses DROP CONSTRAINT endpoint_addresses_endpoint_partner;
ALTER TABLE endpoint_attributes DROP CONSTRAINT endpoint_attributes_endpoint_partner;
-- Dropped before the new keys are added: PostgreSQL would otherwise let
-- them rest on it (it matches an index's columns in any order).
DROP INDEX endpoints_id_partner;
ALTER TABLE endpoint_addresses ADD CONSTRAINT endpoint_addresses_endpoint_partner
    FOREIGN KEY (partner_sid, endpoint_id) REFERENCES endpoints (partner_sid, id) ON DELETE CASCADE;
ALTER TABLE endpoint_attributes ADD CONSTRAINT endpoint_attributes_endpoint_partner
    FOREIGN KEY (partner_sid, endpoint_id) REFERENCES endpoints (partner_sid, id) ON DELETE CASCADE;

-- +goose Down
ALTER TABLE endpoint_addresses DROP CONSTRAINT endpoint_addresses_endpoint_partner;
ALTER TABLE endpoint_attributes DROP CONSTRAINT endpoint_attributes_endpoint_partner;
DROP INDEX endpoints_partner_id;
CREATE INDEX endpoints_partner_id ON endpoints (partner_sid, id);
CREATE UNIQUE INDEX endpoints_id_partner ON endpoints (id, partner_sid);
ALTER TABLE endpoint_addresses ADD CONSTRAINT endpoint_addresses_endpoint_partner
    FOREIGN KEY (endpoint_id, partner_sid) REFERENCES endpoints (id, partner_sid) ON DELETE CASCADE;
ALTER TABLE endpoint_attributes ADD CONSTRAINT endpoint_attributes_endpoint_partner
    FOREIGN KEY (endpoint_id, partner_sid) REFERENCES endpoints (id, partner_sid) ON DELETE CASCADE;
