package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/store"
)

// authenticator issues and checks access tokens. Tokens and apps are cached
// briefly so a submit costs no extra queries; grant and app changes apply
// within appCacheTTL.
type authenticator struct {
	store *store.Store
	ttl   time.Duration

	mu     sync.Mutex
	tokens map[string]tokenEntry
	apps   map[string]appEntry
}

type tokenEntry struct {
	appKey  string
	expires time.Time
}

type appEntry struct {
	app     catalog.App
	fetched time.Time
}

const (
	appCacheTTL   = 5 * time.Second
	tokenCacheMax = 100_000
)

func newAuthenticator(s *store.Store, ttl time.Duration) *authenticator {
	return &authenticator{store: s, ttl: ttl, tokens: map[string]tokenEntry{}, apps: map[string]appEntry{}}
}

var errBadCredentials = errors.New("bad credentials")

// issue checks an app's credentials and returns a new token.
func (a *authenticator) issue(ctx context.Context, appKey, secret string) (string, time.Time, error) {
	app, err := a.store.GetApp(ctx, appKey)
	if errors.Is(err, store.ErrNotFound) {
		return "", time.Time{}, errBadCredentials
	}
	if err != nil {
		return "", time.Time{}, err
	}
	ok := false
	for _, sec := range app.Secrets(time.Now()) {
		if subtle.ConstantTimeCompare([]byte(sec), []byte(secret)) == 1 {
			ok = true
		}
	}
	if !ok {
		return "", time.Time{}, errBadCredentials
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, err
	}
	token := "agt_" + base64.RawURLEncoding.EncodeToString(b[:])
	expires := time.Now().Add(a.ttl).Truncate(time.Second)
	if err := a.store.InsertToken(ctx, token, appKey, expires); err != nil {
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// appFor returns the app a token belongs to, or an *Error for the caller.
func (a *authenticator) appFor(ctx context.Context, token string) (catalog.App, error) {
	if token == "" {
		return catalog.App{}, unauthorized("access_token: missing; get one from /kapi/oauth2/getToken and send it in the access_token header")
	}
	now := time.Now()
	a.mu.Lock()
	te, ok := a.tokens[token]
	a.mu.Unlock()
	if !ok {
		appKey, expires, err := a.store.LookupToken(ctx, token)
		if errors.Is(err, store.ErrNotFound) {
			return catalog.App{}, unauthorized("access_token: invalid")
		}
		if err != nil {
			return catalog.App{}, internal(err)
		}
		te = tokenEntry{appKey: appKey, expires: expires}
		a.mu.Lock()
		if len(a.tokens) < tokenCacheMax {
			a.tokens[token] = te
		}
		a.mu.Unlock()
	}
	if !now.Before(te.expires) {
		return catalog.App{}, unauthorized("access_token: expired; get a new one from /kapi/oauth2/getToken")
	}
	return a.app(ctx, te.appKey)
}

func (a *authenticator) app(ctx context.Context, appKey string) (catalog.App, error) {
	a.mu.Lock()
	ae, ok := a.apps[appKey]
	a.mu.Unlock()
	if ok && time.Since(ae.fetched) < appCacheTTL {
		return ae.app, nil
	}
	app, err := a.store.GetApp(ctx, appKey)
	if errors.Is(err, store.ErrNotFound) {
		return catalog.App{}, unauthorized("access_token: its app no longer exists")
	}
	if err != nil {
		return catalog.App{}, internal(err)
	}
	a.mu.Lock()
	a.apps[appKey] = appEntry{app: app, fetched: time.Now()}
	a.mu.Unlock()
	return app, nil
}

// forget drops an app from the cache: an edit made through this process
// applies to its next call (other API processes see it within appCacheTTL).
func (a *authenticator) forget(appKey string) {
	a.mu.Lock()
	delete(a.apps, appKey)
	a.mu.Unlock()
}

// run prunes expired cache entries and stored tokens.
func (a *authenticator) run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		a.mu.Lock()
		for k, v := range a.tokens {
			if now.After(v.expires) {
				delete(a.tokens, k)
			}
		}
		for k, v := range a.apps {
			if now.Sub(v.fetched) > appCacheTTL {
				delete(a.apps, k)
			}
		}
		a.mu.Unlock()
		_, _ = a.store.DeleteExpiredTokens(ctx, now.Add(-24*time.Hour))
	}
}

// accessToken reads the token from the access_token header (Kingdee), the
// Authorization bearer header, or the access_token query parameter.
func accessToken(c *fiber.Ctx) string {
	if t := c.Get("access_token"); t != "" {
		return t
	}
	if h := c.Get(fiber.HeaderAuthorization); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return c.Query("access_token")
}

type tokenRequest struct {
	ClientID     string `json:"client_id" form:"client_id"`
	ClientSecret string `json:"client_secret" form:"client_secret"`
}

// getToken implements POST /kapi/oauth2/getToken: client_id and
// client_secret as JSON, a form, or query parameters.
func (s *Server) getToken(c *fiber.Ctx) error {
	var req tokenRequest
	ct := string(c.Request().Header.ContentType())
	switch {
	case strings.HasPrefix(ct, fiber.MIMEApplicationJSON):
		if err := json.Unmarshal(c.Body(), &req); err != nil {
			return badRequest("body: not valid JSON: %s", jsonErrorText(err))
		}
	case strings.HasPrefix(ct, fiber.MIMEApplicationForm):
		req.ClientID, req.ClientSecret = c.FormValue("client_id"), c.FormValue("client_secret")
	}
	if req.ClientID == "" {
		req.ClientID = c.Query("client_id")
	}
	if req.ClientSecret == "" {
		req.ClientSecret = c.Query("client_secret")
	}
	switch {
	case req.ClientID == "":
		return badRequest("client_id: is required")
	case req.ClientSecret == "":
		return badRequest("client_secret: is required")
	}
	token, expires, err := s.auth.issue(c.UserContext(), req.ClientID, req.ClientSecret)
	if errors.Is(err, errBadCredentials) {
		s.logger(c).Info("token refused", "app_key", req.ClientID)
		return unauthorized("client_id/client_secret: unknown app or wrong secret")
	}
	if err != nil {
		return internal(err)
	}
	return c.JSON(Envelope{
		Data: fiber.Map{
			"access_token": token,
			"token_type":   "Bearer",
			"expires_in":   int(time.Until(expires).Round(time.Second).Seconds()),
			"expires_at":   expires.UTC().Format(time.RFC3339),
		},
		ErrorCode: CodeOK, Message: "ok", Status: true,
	})
}

// jsonErrorText is a short, safe description of a JSON syntax error.
func jsonErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error() + " at offset " + itoa(se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field + " has the wrong type"
	}
	return "malformed"
}
