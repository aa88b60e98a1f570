package api

import (
	"sync"

	"golang.org/x/time/rate"

	"github.com/asyncgate/asyncgate/catalog"
)

// appLimiter enforces each app's calls-per-second limit (App.RateLimit, 0 =
// unlimited) across both protocols, per API process.
type appLimiter struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newAppLimiter() *appLimiter { return &appLimiter{m: map[string]*rate.Limiter{}} }

// allow takes one call from the app's budget; the burst is one second's worth.
func (l *appLimiter) allow(app catalog.App) bool {
	if app.RateLimit <= 0 {
		return true
	}
	l.mu.Lock()
	lim, ok := l.m[app.AppKey]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(app.RateLimit), app.RateLimit)
		l.m[app.AppKey] = lim
	} else if lim.Burst() != app.RateLimit { // the limit was edited
		lim.SetLimit(rate.Limit(app.RateLimit))
		lim.SetBurst(app.RateLimit)
	}
	l.mu.Unlock()
	return lim.Allow()
}
