package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/debug"
	"sort"
	"sync"

	"github.com/asyncgate/asyncgate/catalog"
)

// Registry resolves a definition's handler spec to a Handler: built-in Go
// functions by name, HTTP forwards through one shared client.
type Registry struct {
	client *http.Client

	mu       sync.RWMutex
	builtins map[string]Handler
}

// NewRegistry returns an empty registry whose HTTP forwards use client.
func NewRegistry(client *http.Client) *Registry {
	if client == nil {
		client = http.DefaultClient
	}
	return &Registry{client: client, builtins: map[string]Handler{}}
}

// Register adds a built-in handler. Registering a name twice is a
// programming error.
func (r *Registry) Register(name string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.builtins[name]; dup {
		panic(fmt.Sprintf("handler %q registered twice", name))
	}
	r.builtins[name] = h
}

// Names lists the built-in handlers, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.builtins))
	for n := range r.builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Resolve returns the handler for spec, or an error saying why this worker
// cannot run it.
func (r *Registry) Resolve(spec catalog.HandlerSpec) (Handler, error) {
	switch spec.Type {
	case catalog.HandlerBuiltin:
		r.mu.RLock()
		h, ok := r.builtins[spec.Builtin]
		r.mu.RUnlock()
		if !ok {
			return nil, fmt.Errorf("built-in handler %q is not registered in this worker", spec.Builtin)
		}
		return h, nil
	case catalog.HandlerHTTP:
		if spec.HTTP == nil {
			return nil, fmt.Errorf("http handler has no target")
		}
		return &HTTPForward{Client: r.client, Spec: *spec.HTTP}, nil
	case catalog.HandlerScript:
		s, err := NewScript(spec.Script)
		if err != nil {
			return nil, fmt.Errorf("script handler: %w", err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("unknown handler type %q", spec.Type)
	}
}

// Safe turns a panic in h into an ordinary (retryable) error, so one bad
// item cannot take the worker down.
func Safe(h Handler) Handler {
	return Func(func(ctx context.Context, it Item) (res json.RawMessage, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("handler panicked: %v\n%s", p, debug.Stack())
			}
		}()
		return h.Handle(ctx, it)
	})
}
