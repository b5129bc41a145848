-- +goose Up
-- Until now an IPv4 address written IPv4-mapped (::ffff:192.0.2.44,
-- ::ffff:c000:22c) was stored as net/netip writes it, '::ffff:192.0.2.44',
-- beside the plain '192.0.2.44': the duplicate-IP rule and filters took them
-- for two addresses. Both are now stored as the IPv4 address. The old form
-- always starts with '::ffff:' and holds dots (no other IPv6 text has
-- both), so substr(ip, 8) is its canonical form. See docs/decisions.md.

-- The addresses documents (the source of truth): encoding/json writes each
-- as "ip":"<text>", and a '"' inside any string value is escaped.
UPDATE endpoints
SET addresses = regexp_replace(addresses, '"ip":"::ffff:([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)"', '"ip":"\1"', 'g')
WHERE addresses LIKE '%"ip":"::ffff:%.%';

UPDATE endpoint_addresses SET ip = substr(ip, 8) WHERE ip LIKE '::ffff:%.%';

DELETE FROM system_gateways WHERE ip LIKE '::ffff:%.%'
    AND EXISTS (SELECT 1 FROM system_gateways g WHERE g.ip = substr(system_gateways.ip, 8) AND g.port = system_gateways.port);
UPDATE system_gateways SET ip = substr(ip, 8) WHERE ip LIKE '::ffff:%.%';

-- Two claims that were two spellings of one (ip, port) become one. The one
-- kept: a partner endpoint's before the gateways' (as SetSystemGateways
-- decides), then the older endpoint's; between two rows of one holder, the
-- plain spelling. The endpoint whose claim goes keeps its address; a change
-- of its addresses that keeps it (auth_required=false) is then a 409.
DELETE FROM ip_claims WHERE EXISTS (
    SELECT 1 FROM ip_claims c
    WHERE c.port = ip_claims.port AND c.ip <> ip_claims.ip
      AND (CASE WHEN c.ip LIKE '::ffff:%.%' THEN substr(c.ip, 8) ELSE c.ip END)
        = (CASE WHEN ip_claims.ip LIKE '::ffff:%.%' THEN substr(ip_claims.ip, 8) ELSE ip_claims.ip END)
      AND ((ip_claims.endpoint_id IS NULL AND c.endpoint_id IS NOT NULL)
        OR c.endpoint_id < ip_claims.endpoint_id
        OR (c.endpoint_id IS NOT DISTINCT FROM ip_claims.endpoint_id AND ip_claims.ip LIKE '::ffff:%.%')));
UPDATE ip_claims SET ip = substr(ip, 8) WHERE ip LIKE '::ffff:%.%';

-- +goose Down
-- Nothing to undo: the canonical forms are valid, and the same, for the
-- code before this migration.
SELECT 1;
