// Package nodetest gives tests a Node.js project's locked dependencies:
// interop checks against standard JavaScript tools (an OpenAPI validator,
// a SOAP client, a browser driver) that must not silently vanish.
package nodetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var installs sync.Map // dir → *install

type install struct {
	once sync.Once
	err  error
}

// Dir returns the absolute path of the Node project in dir (package.json
// and package-lock.json), running `npm ci` first when the package named
// probe is not in its node_modules. Missing node or npm fails the test:
// these checks are the proof that real clients understand what we serve.
func Dir(t testing.TB, dir, probe string) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on PATH: install Node.js 20 with npm (Debian: apt-get install nodejs npm) to run this test", tool)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := installs.LoadOrStore(abs, &install{})
	in := v.(*install)
	in.once.Do(func() { in.err = npmCI(abs, probe) })
	if in.err != nil {
		t.Fatal(in.err)
	}
	return abs
}

// npmCI installs into a scratch directory and renames the result into
// place, so neither a concurrent `go test` process nor an interrupted
// install can leave a half-filled node_modules that later runs would trust.
func npmCI(dir, probe string) error {
	marker := filepath.Join(dir, "node_modules", probe, "package.json")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp(dir, ".install-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, name := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return err
		}
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %w\n%s", dir, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		if _, serr := os.Stat(marker); serr == nil {
			return nil // another process got there first
		}
		return fmt.Errorf("install %s (remove its node_modules if it is damaged): %w", dir, err)
	}
	return nil
}
