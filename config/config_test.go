package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(ModeDev, env(nil))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", c.HTTPAddr)
	require.Equal(t, "http://127.0.0.1:8080", c.PublicURL)
	require.Equal(t, "127.0.0.1:7233", c.TemporalAddress)
	require.Equal(t, "http://127.0.0.1:8233", c.TemporalUIURL)
	require.Equal(t, ".asyncgate", c.DataDir)
	require.Equal(t, "default", c.TemporalNamespace)
	require.Equal(t, 2*time.Hour, c.TokenTTL)
	require.True(t, c.Dispatch, "dev dispatches")
	require.True(t, c.SeedDemo, "dev seeds the demo catalog")
	require.False(t, c.TLSEnabled())

	w, err := FromEnv(ModeWorker, env(nil))
	require.NoError(t, err)
	require.False(t, w.Dispatch, "a worker does not dispatch unless told to")
	require.False(t, w.SeedDemo)
}

func TestOverridesAndErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		mode  Mode
		vars  map[string]string
		check func(t *testing.T, c Config)
		errs  []string // each must appear in the error
	}{
		{name: "overrides", mode: ModeAPI, vars: map[string]string{
			"ASYNCGATE_HTTP_ADDR": "0.0.0.0:9000", "ASYNCGATE_PUBLIC_URL": "https://gw.example.com/", "ASYNCGATE_ADMIN_TOKEN": "0123456789abcdef",
			"ASYNCGATE_TOKEN_TTL": "30m", "ASYNCGATE_DISPATCH": "false", "ASYNCGATE_TEMPORAL_UI_ADDR": "off", "ASYNCGATE_LOG_LEVEL": "DEBUG",
		}, check: func(t *testing.T, c Config) {
			require.Equal(t, "0.0.0.0:9000", c.HTTPAddr)
			require.Equal(t, "https://gw.example.com", c.PublicURL)
			require.Equal(t, 30*time.Minute, c.TokenTTL)
			require.False(t, c.Dispatch)
			require.Empty(t, c.TemporalUIURL)
			require.Equal(t, "debug", c.LogLevel)
		}},
		{name: "api needs an admin token", mode: ModeAPI, errs: []string{"ASYNCGATE_ADMIN_TOKEN: required"}},
		{name: "short admin token", mode: ModeDev, vars: map[string]string{"ASYNCGATE_ADMIN_TOKEN": "short"}, errs: []string{"at least 16"}},
		{name: "every bad value is reported at once", mode: ModeDev, vars: map[string]string{
			"ASYNCGATE_HTTP_ADDR": "nohostport", "TEMPORAL_ADDRESS": "x", "DATABASE_URL": "mysql://u:hunter2@h/db",
			"ASYNCGATE_TOKEN_TTL": "soon", "ASYNCGATE_DISPATCH": "maybe", "ASYNCGATE_LOG_LEVEL": "loud", "TEMPORAL_TLS_CERT": "c.pem",
		}, errs: []string{"ASYNCGATE_HTTP_ADDR", "TEMPORAL_ADDRESS", "DATABASE_URL", "ASYNCGATE_TOKEN_TTL", "ASYNCGATE_DISPATCH",
			"ASYNCGATE_LOG_LEVEL", "TEMPORAL_TLS_KEY"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := FromEnv(tc.mode, env(tc.vars))
			if len(tc.errs) == 0 {
				require.NoError(t, err)
				tc.check(t, c)
				return
			}
			require.Error(t, err)
			for _, want := range tc.errs {
				require.Contains(t, err.Error(), want)
			}
			require.False(t, strings.Contains(err.Error(), "hunter2"), "secrets never appear in errors")
		})
	}
}
