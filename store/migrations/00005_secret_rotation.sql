-- +goose Up
-- A rotated secret keeps working until previous_secret_until (grace period).
ALTER TABLE apps ADD COLUMN previous_secret text NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN previous_secret_until timestamptz;

-- +goose Down
ALTER TABLE apps DROP COLUMN previous_secret_until;
ALTER TABLE apps DROP COLUMN previous_secret;
