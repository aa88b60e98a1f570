-- +goose Up
-- How many times an operator retried a request's failed items; each retry
-- runs a new workflow (asyncgate-request-<id>-retry-<n>).
ALTER TABLE async_requests ADD COLUMN retries integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE async_requests DROP COLUMN retries;
