package openapi

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/nodetest"
)

// The generated documents are checked by @seriousme/openapi-schema-validator
// (the official OpenAPI 3.1 JSON schemas), pinned in testdata/validator.

// validatorDir returns the validator's directory, its dependencies installed.
func validatorDir(t *testing.T) string {
	t.Helper()
	return nodetest.Dir(t, filepath.Join("testdata", "validator"), "@seriousme/openapi-schema-validator")
}

type validation struct {
	Valid   bool   `json:"valid"`
	Version string `json:"version"`
	Errors  any    `json:"errors"`
}

// validate runs validate.mjs on doc.
func validate(t *testing.T, dir string, doc []byte) (validation, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "openapi.json")
	require.NoError(t, os.WriteFile(file, doc, 0o644))
	cmd := exec.CommandContext(t.Context(), "node", "validate.mjs", file)
	cmd.Dir = dir
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
		t.Fatalf("node validate.mjs: %v\n%s%s", err, out, stderrOf(err))
	}
	var res validation
	require.NoError(t, json.Unmarshal(out, &res), "validator output: %s", out)
	require.Equal(t, err == nil, res.Valid, "exit status and verdict disagree: %s", out)
	return res, string(out)
}

func stderrOf(err error) []byte {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.Stderr
	}
	return nil
}

func TestOpenAPIValidator(t *testing.T) {
	t.Parallel()
	dir := validatorDir(t)
	realistic := append(demoDefs(t), fixtures()...)
	tests := []struct {
		name   string
		defs   []catalog.Definition
		mutate func(doc map[string]any) // breaks the document
		valid  bool
	}{
		{name: "demo catalog and fixtures", defs: realistic, valid: true},
		{name: "no APIs", valid: true},
		{name: "info removed", defs: realistic, mutate: func(doc map[string]any) { delete(doc, "info") }},
		{name: "dangling ref", defs: realistic, mutate: func(doc map[string]any) {
			delete(doc["components"].(map[string]any)["schemas"].(map[string]any), "Receipt")
		}},
		{name: "bad parameter location", defs: realistic, mutate: func(doc map[string]any) {
			op := doc["paths"].(map[string]any)[orderPath].(map[string]any)["get"].(map[string]any)
			op["parameters"].([]any)[0].(map[string]any)["in"] = "body"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := Document(Info{Title: "asyncgate", Version: "test", ServerURL: "http://127.0.0.1:8080"}, tc.defs)
			require.NoError(t, err)
			if tc.mutate != nil {
				var doc map[string]any
				require.NoError(t, json.Unmarshal(b, &doc))
				tc.mutate(doc)
				b, err = json.Marshal(doc)
				require.NoError(t, err)
			}
			res, out := validate(t, dir, b)
			require.Equal(t, tc.valid, res.Valid, out)
			if tc.valid {
				require.Equal(t, "3.1", res.Version, out)
			} else {
				require.NotEmpty(t, res.Errors, out)
			}
		})
	}
}
