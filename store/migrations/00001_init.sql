-- +goose Up

-- Third-party applications (ISVs) and what they may call.
CREATE TABLE apps (
    app_key       text        PRIMARY KEY,
    secret        text        NOT NULL,
    name          text        NOT NULL DEFAULT '',
    isv           text        NOT NULL DEFAULT '',
    notify_url    text        NOT NULL DEFAULT '',
    notify_format text        NOT NULL DEFAULT 'webhook' CHECK (notify_format IN ('top', 'webhook')),
    rate_limit    integer     NOT NULL DEFAULT 0 CHECK (rate_limit >= 0),
    tester        boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- api_code '*' grants every API.
CREATE TABLE app_grants (
    app_key  text NOT NULL REFERENCES apps (app_key) ON DELETE CASCADE,
    api_code text NOT NULL,
    PRIMARY KEY (app_key, api_code)
);

-- API definitions: every field of the Kingdee definition page. Scalars are
-- columns (filtered and indexed); lists and nested settings are jsonb.
CREATE TABLE api_definitions (
    code                  text        PRIMARY KEY,
    name                  text        NOT NULL,
    method                text        NOT NULL CHECK (method IN ('GET', 'POST')),
    isv                   text        NOT NULL DEFAULT '',
    app_id                text        NOT NULL,
    form_id               text        NOT NULL,
    service_name          text        NOT NULL,
    path                  text        NOT NULL UNIQUE,
    group_name            text        NOT NULL DEFAULT '',
    operation             text        NOT NULL DEFAULT '',
    status                text        NOT NULL CHECK (status IN ('testing', 'published', 'maintenance', 'disabled')),
    min_version           text        NOT NULL DEFAULT '',
    description           text        NOT NULL DEFAULT '',
    top_method            text        UNIQUE,
    third_party_auth_only boolean     NOT NULL DEFAULT false,
    return_data_only      boolean     NOT NULL DEFAULT false,
    masking               boolean     NOT NULL DEFAULT false,
    dedup_enabled         boolean     NOT NULL DEFAULT false,
    dedup_window_ms       bigint      NOT NULL DEFAULT 30000,
    reject_unknown_params boolean     NOT NULL DEFAULT false,
    webservice            jsonb,
    request_headers       jsonb       NOT NULL DEFAULT '[]',
    params                jsonb       NOT NULL DEFAULT '[]',
    param_controls        jsonb       NOT NULL DEFAULT '[]',
    return_params         jsonb       NOT NULL DEFAULT '[]',
    error_codes           jsonb       NOT NULL DEFAULT '[]',
    batch                 jsonb       NOT NULL DEFAULT '{}',
    handler               jsonb       NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_definitions_group_idx ON api_definitions (group_name);

-- Access tokens from /kapi/oauth2/getToken; only a hash is stored.
CREATE TABLE access_tokens (
    token_hash bytea       PRIMARY KEY,
    app_key    text        NOT NULL REFERENCES apps (app_key) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX access_tokens_expires_idx ON access_tokens (expires_at);

-- The intermediate table (异步中间表): one row per accepted request. It is
-- also the outbox: dispatch_state 'pending' rows are started as workflows by
-- the dispatcher.
CREATE TABLE async_requests (
    id                bigint      PRIMARY KEY,
    api_code          text        NOT NULL,
    app_key           text        NOT NULL,
    protocol          text        NOT NULL CHECK (protocol IN ('kapi', 'top')),
    status            text        NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'doing', 'done', 'canceled')),
    header            jsonb       NOT NULL DEFAULT '{}',
    total             integer     NOT NULL CHECK (total >= 0),
    succeeded         integer     NOT NULL DEFAULT 0,
    failed            integer     NOT NULL DEFAULT 0,
    canceled          integer     NOT NULL DEFAULT 0,
    dedup_key         text,
    workflow_id       text        NOT NULL,
    run_id            text        NOT NULL DEFAULT '',
    dispatch_state    text        NOT NULL DEFAULT 'pending' CHECK (dispatch_state IN ('pending', 'started', 'skipped')),
    dispatch_attempts integer     NOT NULL DEFAULT 0,
    dispatch_error    text        NOT NULL DEFAULT '',
    next_dispatch_at  timestamptz NOT NULL DEFAULT now(),
    lease_until       timestamptz,
    cancel_requested  boolean     NOT NULL DEFAULT false,
    notify_state      text        NOT NULL DEFAULT 'none' CHECK (notify_state IN ('none', 'pending', 'delivered', 'failed')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    dispatched_at     timestamptz,
    started_at        timestamptz,
    finished_at       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX async_requests_pending_idx ON async_requests (next_dispatch_at) WHERE dispatch_state = 'pending';
CREATE INDEX async_requests_app_created_idx ON async_requests (app_key, created_at);
CREATE INDEX async_requests_api_created_idx ON async_requests (api_code, created_at);
CREATE INDEX async_requests_status_idx ON async_requests (status, created_at);
CREATE INDEX async_requests_dedup_idx ON async_requests (dedup_key, created_at) WHERE dedup_key IS NOT NULL;

-- Items (subtasks): one row per item, written at accept time with the
-- item's request; activities upsert the outcome.
CREATE TABLE async_items (
    request_id  bigint      NOT NULL REFERENCES async_requests (id) ON DELETE CASCADE,
    idx         integer     NOT NULL CHECK (idx >= 0),
    request     jsonb       NOT NULL,
    status      text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    attempts    integer     NOT NULL DEFAULT 0,
    result      jsonb,
    sub_code    text        NOT NULL DEFAULT '',
    sub_msg     text        NOT NULL DEFAULT '',
    finished_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, idx)
);

-- Call log: every API call's request and response, for audit and export.
CREATE TABLE call_log (
    id            bigserial   PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    app_key       text        NOT NULL DEFAULT '',
    api_code      text        NOT NULL DEFAULT '',
    request_id    bigint,
    protocol      text        NOT NULL,
    kind          text        NOT NULL, -- submit, checkStatus, queryResult, cancel, token
    http_method   text        NOT NULL,
    path          text        NOT NULL,
    query         text        NOT NULL DEFAULT '',
    http_status   integer     NOT NULL,
    error_code    text        NOT NULL DEFAULT '',
    request_body  text        NOT NULL DEFAULT '',
    response_body text        NOT NULL DEFAULT '',
    duration_us   bigint      NOT NULL DEFAULT 0,
    remote_addr   text        NOT NULL DEFAULT ''
);
CREATE INDEX call_log_request_idx ON call_log (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX call_log_at_idx ON call_log (at);

-- +goose Down
DROP TABLE call_log;
DROP TABLE async_items;
DROP TABLE async_requests;
DROP TABLE access_tokens;
DROP TABLE api_definitions;
DROP TABLE app_grants;
DROP TABLE apps;
