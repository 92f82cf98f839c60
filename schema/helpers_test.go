package schema

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustLoad(t *testing.T, opts LoadOptions) *Config {
	t.Helper()
	c, err := Load(opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func dump(c *Config) string {
	b, _ := json.MarshalIndent(c, "", "  ")
	return string(b)
}

// writeConfig writes a config file named name into a new temporary
// directory and returns its path.
func writeConfig(t *testing.T, name, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// loadError loads opts and returns the error text with the directory of
// the config file removed, failing if there is no error.
func loadError(t *testing.T, opts LoadOptions) string {
	t.Helper()
	_, err := Load(opts)
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	if opts.File != "" {
		return strings.ReplaceAll(err.Error(), filepath.Dir(opts.File)+string(filepath.Separator), "")
	}
	return err.Error()
}
