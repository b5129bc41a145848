-- +goose Up
-- How many endpoints each partner has, so that a list without a filter
-- answers its exact total without counting (docs/decisions.md, "An O(1)
-- total"). Every write transaction that creates or deletes endpoints adds
-- its difference at its end, with its change records (sqlstore/counts.go);
-- no row yet: 0. This migration counts the endpoints already stored.
CREATE TABLE partner_endpoint_counts (
    partner_sid TEXT COLLATE "C" PRIMARY KEY REFERENCES partners (partner_sid),
    endpoints   BIGINT NOT NULL
);
INSERT INTO partner_endpoint_counts (partner_sid, endpoints)
SELECT partner_sid, count(*) FROM endpoints GROUP BY partner_sid;

-- +goose Down
DROP TABLE partner_endpoint_counts;
