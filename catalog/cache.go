package catalog

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Loader reads the catalog's source of truth (the store).
type Loader interface {
	ListDefinitions(ctx context.Context) ([]Definition, error)
	// DefinitionsVersion changes whenever any definition changes.
	DefinitionsVersion(ctx context.Context) (string, error)
}

// Cache is an in-memory view of the definitions, refreshed when the store's
// version marker changes, so status and schema edits apply without restart.
type Cache struct {
	loader Loader

	mu       sync.RWMutex
	version  string
	loadedAt time.Time
	byCode   map[string]Definition
	byPath   map[string]Definition
	byTop    map[string]Definition
}

// NewCache returns an empty cache; call Refresh before use.
func NewCache(l Loader) *Cache {
	return &Cache{loader: l, byCode: map[string]Definition{}, byPath: map[string]Definition{}, byTop: map[string]Definition{}}
}

// Refresh reloads the definitions when the store's version changed.
func (c *Cache) Refresh(ctx context.Context) error {
	v, err := c.loader.DefinitionsVersion(ctx)
	if err != nil {
		return err
	}
	c.mu.RLock()
	same := v == c.version && !c.loadedAt.IsZero()
	c.mu.RUnlock()
	if same {
		return nil
	}
	defs, err := c.loader.ListDefinitions(ctx)
	if err != nil {
		return err
	}
	byCode := make(map[string]Definition, len(defs))
	byPath := make(map[string]Definition, len(defs))
	byTop := make(map[string]Definition)
	for _, d := range defs {
		d = d.WithDefaults()
		byCode[d.Code] = d
		byPath[d.Path()] = d
		if d.TopMethod != "" {
			byTop[d.TopMethod] = d
		}
	}
	c.mu.Lock()
	c.version, c.loadedAt, c.byCode, c.byPath, c.byTop = v, time.Now(), byCode, byPath, byTop
	c.mu.Unlock()
	return nil
}

// Run refreshes every interval until ctx ends; errors are reported to onErr.
func (c *Cache) Run(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Refresh(ctx); err != nil && ctx.Err() == nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// ByCode returns the definition with this code.
func (c *Cache) ByCode(code string) (Definition, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.byCode[code]
	return d, ok
}

// All returns every definition, sorted by code.
func (c *Cache) All() []Definition {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Definition, 0, len(c.byCode))
	for _, d := range c.byCode {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Definition) int { return strings.Compare(a.Code, b.Code) })
	return out
}

// ByPath returns the definition whose request URL path is path.
func (c *Cache) ByPath(path string) (Definition, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.byPath[path]
	return d, ok
}

// ByTopMethod returns the definition aliased by a TOP method name.
func (c *Cache) ByTopMethod(method string) (Definition, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.byTop[method]
	return d, ok
}

// Lookup finds a definition by code, refreshing once on a miss: a worker may
// see a request for an API created a moment ago.
func (c *Cache) Lookup(ctx context.Context, code string) (Definition, bool, error) {
	if d, ok := c.ByCode(code); ok {
		return d, true, nil
	}
	if err := c.Refresh(ctx); err != nil {
		return Definition{}, false, err
	}
	d, ok := c.ByCode(code)
	return d, ok, nil
}
