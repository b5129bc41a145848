-- +goose Up
-- Tokens get a public id, so operators can list and revoke them without
-- ever seeing a token value.
ALTER TABLE tokens ADD COLUMN token_id TEXT;
UPDATE tokens SET token_id = lower(hex(randomblob(16))) WHERE token_id IS NULL;
CREATE UNIQUE INDEX tokens_token_id ON tokens (token_id);

-- +goose Down
DROP INDEX tokens_token_id;
ALTER TABLE tokens DROP COLUMN token_id;
