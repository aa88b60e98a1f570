-- +goose Up

-- TOP list parameters that split a TOP call into items (catalog.TopList).
ALTER TABLE api_definitions ADD COLUMN top_lists jsonb NOT NULL DEFAULT '[]';

-- Completion callbacks: one row per delivery attempt.
CREATE TABLE notify_attempts (
    id            bigserial   PRIMARY KEY,
    request_id    bigint      NOT NULL REFERENCES async_requests (id) ON DELETE CASCADE,
    attempt       integer     NOT NULL CHECK (attempt >= 1),
    at            timestamptz NOT NULL,
    url           text        NOT NULL,
    format        text        NOT NULL CHECK (format IN ('top', 'webhook')),
    http_status   integer     NOT NULL DEFAULT 0,
    response_body text        NOT NULL DEFAULT '',
    error         text        NOT NULL DEFAULT '',
    duration_us   bigint      NOT NULL DEFAULT 0,
    delivered     boolean     NOT NULL DEFAULT false
);
CREATE INDEX notify_attempts_request_idx ON notify_attempts (request_id, id);
-- At most one delivered attempt per request: a retried activity that finds
-- the callback delivered does not deliver it again.
CREATE UNIQUE INDEX notify_attempts_delivered_idx ON notify_attempts (request_id) WHERE delivered;

ALTER TABLE async_requests ADD COLUMN notified_at timestamptz;
CREATE INDEX async_requests_notify_idx ON async_requests (notify_state, finished_at) WHERE notify_state IN ('pending', 'failed');

-- +goose Down
DROP INDEX async_requests_notify_idx;
ALTER TABLE async_requests DROP COLUMN notified_at;
DROP TABLE notify_attempts;
ALTER TABLE api_definitions DROP COLUMN top_lists;
