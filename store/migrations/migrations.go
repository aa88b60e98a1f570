// Package migrations embeds the store's SQL migrations (goose format).
package migrations

import "embed"

// FS holds the numbered .sql files. Never edit an applied migration; add one.
//
//go:embed *.sql
var FS embed.FS
