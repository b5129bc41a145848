-- +goose Up
-- How many of each partner's endpoints hold each attribute value, so that a
-- list filtered on one attribute (eq, in, a range) answers its exact total
-- from one row per value instead of counting every matching endpoint
-- (docs/decisions.md, "Kept attribute counts"). An endpoint holds at most one
-- value per key, so the rows of distinct values add up exactly. The write
-- transactions keep them with the change records (sqlstore/counts.go); a
-- value no endpoint holds has no row. This migration counts what is stored.
CREATE TABLE attribute_value_counts (
    partner_sid TEXT NOT NULL REFERENCES partners (partner_sid),
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    endpoints   INTEGER NOT NULL,
    PRIMARY KEY (partner_sid, key, value)
) WITHOUT ROWID;
INSERT INTO attribute_value_counts (partner_sid, key, value, endpoints)
SELECT partner_sid, key, value, count(*) FROM endpoint_attributes GROUP BY partner_sid, key, value;

-- +goose Down
DROP TABLE attribute_value_counts;
