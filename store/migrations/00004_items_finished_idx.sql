-- +goose Up
-- The queue monitor counts items finished per minute.
CREATE INDEX async_items_finished_idx ON async_items (finished_at) WHERE finished_at IS NOT NULL;

-- +goose Down
DROP INDEX async_items_finished_idx;
