package lifecycle

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnits: systemd-analyze verify accepts the unit files without
// a single warning, and the service's exposure stays below 2.0 ("OK").
// scripts/test.sh installs systemd-analyze (Debian's systemd package) when
// it is missing; the test fails without it.
func TestSystemdUnits(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found: install Debian's systemd package (scripts/test.sh does)")
	}
	src := filepath.Join(repoRoot(), "systemd")
	dir := t.TempDir()
	// verify checks that ExecStart's binary exists: point it at a stand-in
	// (the ecosystem notes' offline recipe).
	fake := filepath.Join(dir, "resedge")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"resedge.service", "resedge.socket"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "resedge.service" && !bytes.Contains(data, []byte("ExecStart=/usr/bin/resedge run --config /etc/resedge/config.yaml")) {
			t.Fatalf("%s: unexpected ExecStart", name)
		}
		data = bytes.ReplaceAll(data, []byte("/usr/bin/resedge"), []byte(fake))
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// verify exits 0 on warnings: any output is a failure.
	cmd := exec.Command(analyze, "verify", "--man=no", "resedge.service", "resedge.socket")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	// --threshold is ten times the exposure: fail above 2.0.
	cmd = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", "resedge.service")
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Overall exposure level for resedge.service") {
		t.Fatalf("systemd-analyze security printed no exposure:\n%s", out)
	}

	// The sysusers entry creates the user the service runs as.
	users, err := os.ReadFile(filepath.Join(src, "resedge.sysusers"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(users), "\nu resedge - ") {
		t.Errorf("resedge.sysusers does not create the resedge user:\n%s", users)
	}
}
