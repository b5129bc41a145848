-- +goose Up
-- PostgreSQL: text compares by bytes (COLLATE "C"), as the API orders strings by bytes.
-- Partners own endpoints; scopes is a comma-separated list.
CREATE TABLE partners (
    partner_sid   TEXT COLLATE "C" PRIMARY KEY,
    name          TEXT COLLATE "C" NOT NULL,
    login         TEXT COLLATE "C" UNIQUE,
    password_hash TEXT COLLATE "C",
    scopes        TEXT COLLATE "C" NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

-- API tokens are stored only as SHA-256 hashes (hex).
CREATE TABLE tokens (
    token_hash  TEXT COLLATE "C" PRIMARY KEY,
    partner_sid TEXT COLLATE "C" NOT NULL REFERENCES partners (partner_sid),
    scopes      TEXT COLLATE "C" NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX tokens_partner ON tokens (partner_sid);

-- One row per endpoint. id is the creation order. The nested objects are
-- stored as JSON documents (the source of truth); endpoint_addresses and
-- endpoint_attributes repeat their searchable parts for indexed filters.
CREATE TABLE endpoints (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_sid     TEXT COLLATE "C" NOT NULL UNIQUE,
    partner_sid      TEXT COLLATE "C" NOT NULL REFERENCES partners (partner_sid),
    type             TEXT COLLATE "C" NOT NULL,
    name             TEXT COLLATE "C" NOT NULL,
    capacity         INTEGER NOT NULL,
    cps_limit        INTEGER,
    auth_required    BOOLEAN NOT NULL,
    out_sip_username TEXT COLLATE "C",
    out_sip_password TEXT COLLATE "C",
    voip_token       TEXT COLLATE "C",
    login            TEXT COLLATE "C" UNIQUE,
    addresses        TEXT COLLATE "C" NOT NULL,
    attributes       TEXT COLLATE "C" NOT NULL,
    properties       TEXT COLLATE "C" NOT NULL,
    transformations  TEXT COLLATE "C" NOT NULL
);
CREATE INDEX endpoints_partner_id ON endpoints (partner_sid, id);
CREATE INDEX endpoints_partner_name ON endpoints (partner_sid, name, id);
CREATE INDEX endpoints_partner_type ON endpoints (partner_sid, type, id);

CREATE TABLE endpoint_addresses (
    endpoint_id  BIGINT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    direction    TEXT COLLATE "C" NOT NULL,
    dst_port     INTEGER NOT NULL,
    ip           TEXT COLLATE "C" NOT NULL,
    location_sid TEXT COLLATE "C",
    port         INTEGER NOT NULL,
    priority     INTEGER NOT NULL,
    sip_username TEXT COLLATE "C",
    srtp         BOOLEAN NOT NULL,
    transport    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (endpoint_id, position)
);
CREATE INDEX endpoint_addresses_ip ON endpoint_addresses (ip, endpoint_id);

CREATE TABLE endpoint_attributes (
    endpoint_id BIGINT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    key         TEXT COLLATE "C" NOT NULL,
    value       TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (endpoint_id, key)
);
CREATE INDEX endpoint_attributes_key_value ON endpoint_attributes (key, value, endpoint_id);

-- The duplicate-IP rule (auth_required=false) lives here: one row per
-- (ip, port) an endpoint that skips SIP authentication holds. endpoint_id is
-- NULL for the claims of the system gateways, which share theirs.
CREATE TABLE ip_claims (
    ip          TEXT COLLATE "C" NOT NULL,
    port        INTEGER NOT NULL,
    endpoint_id BIGINT REFERENCES endpoints (id) ON DELETE CASCADE,
    PRIMARY KEY (ip, port)
);
CREATE INDEX ip_claims_endpoint ON ip_claims (endpoint_id);

-- The system gateway addresses the operator configured (serve --system-gateway),
-- so that partners created by the CLI get their gateway endpoint too.
CREATE TABLE system_gateways (
    ip   TEXT COLLATE "C" NOT NULL,
    port INTEGER NOT NULL,
    PRIMARY KEY (ip, port)
);

-- +goose Down
DROP TABLE system_gateways;
DROP TABLE ip_claims;
DROP TABLE endpoint_attributes;
DROP TABLE endpoint_addresses;
DROP TABLE endpoints;
DROP TABLE tokens;
DROP TABLE partners;
