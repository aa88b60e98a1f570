package catalog

import "time"

// NotifyFormat is how completion callbacks are sent to an app.
type NotifyFormat string

const (
	NotifyTOP     NotifyFormat = "top"     // TOP form POST, delivered when the body is "true"
	NotifyWebhook NotifyFormat = "webhook" // Standard Webhooks JSON, any 2xx delivers
)

// App is a third-party application (ISV) that calls the gateway.
type App struct {
	AppKey       string       `json:"app_key" yaml:"app_key"`
	Secret       string       `json:"secret,omitempty" yaml:"secret,omitempty"` // never logged or returned by read APIs
	Name         string       `json:"name" yaml:"name"`
	ISV          string       `json:"isv,omitempty" yaml:"isv,omitempty"`
	NotifyURL    string       `json:"notify_url,omitempty" yaml:"notify_url,omitempty"`
	NotifyFormat NotifyFormat `json:"notify_format,omitempty" yaml:"notify_format,omitempty"`
	// Grants lists the API codes the app may call; "*" grants every API.
	Grants    []string `json:"grants" yaml:"grants"`
	RateLimit int      `json:"rate_limit,omitempty" yaml:"rate_limit,omitempty"` // calls per second; 0 = unlimited
	Tester    bool     `json:"tester" yaml:"tester"`                             // may call APIs in testing status
	// PreviousSecret still authenticates until PreviousSecretUntil (a
	// rotation's grace period). Never serialized.
	PreviousSecret      string    `json:"-" yaml:"-"`
	PreviousSecretUntil time.Time `json:"-" yaml:"-"`
}

// Secrets are the secrets that authenticate the app at now: the current
// one, and the previous one during its grace period.
func (a App) Secrets(now time.Time) []string {
	if a.PreviousSecret != "" && now.Before(a.PreviousSecretUntil) {
		return []string{a.Secret, a.PreviousSecret}
	}
	return []string{a.Secret}
}

// Granted reports whether the app may call the API with this code.
func (a App) Granted(code string) bool {
	for _, g := range a.Grants {
		if g == "*" || g == code {
			return true
		}
	}
	return false
}

// File is the YAML/JSON import format: `asyncgate apis import FILE`.
type File struct {
	Apps []App        `json:"apps,omitempty" yaml:"apps,omitempty"`
	APIs []Definition `json:"apis,omitempty" yaml:"apis,omitempty"`
}
