package store

import (
	"context"
	"fmt"

	"github.com/asyncgate/asyncgate/catalog"
)

// ImportResult counts what an import wrote.
type ImportResult struct {
	Apps int `json:"apps"`
	APIs int `json:"apis"`
}

// Import upserts a validated catalog file's apps and definitions in one
// transaction: all of it or nothing.
func (s *Store) Import(ctx context.Context, f catalog.File) (ImportResult, error) {
	var res ImportResult
	err := s.InTx(ctx, func(tx *Store) error {
		for i, d := range f.APIs {
			if err := tx.UpsertDefinition(ctx, d.WithDefaults()); err != nil {
				return fmt.Errorf("apis[%d]: %w", i, err)
			}
			res.APIs++
		}
		for i, a := range f.Apps {
			if err := tx.UpsertApp(ctx, a); err != nil {
				return fmt.Errorf("apps[%d]: %w", i, err)
			}
			res.Apps++
		}
		return nil
	})
	return res, err
}
