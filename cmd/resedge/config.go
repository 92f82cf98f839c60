package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/resedge/resedge/edge"
	"github.com/resedge/resedge/schema"
)

// configCommand runs "resedge config <validate|schema|init> ...".
func configCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return usageFailure(stderr, "Error parsing command arguments: missing config command: validate, schema or init")
	}
	switch args[0] {
	case "validate":
		if len(args) == 1 {
			return usageFailure(stderr, "Error parsing command arguments: config validate needs at least one FILE")
		}
		return validateFiles(args[1:], os.Environ(), stdout, stderr)
	case "schema":
		if len(args) > 1 {
			return usageFailure(stderr, fmt.Sprintf("Error parsing command arguments: unexpected argument %q", args[1]))
		}
		stdout.Write(schema.Schema())
		return 0
	case "init":
		switch len(args) {
		case 1:
			fmt.Fprint(stdout, schema.InitTemplate)
			return 0
		case 2:
			return initFile(args[1], stdout, stderr)
		}
		return usageFailure(stderr, fmt.Sprintf("Error parsing command arguments: unexpected argument %q", args[2]))
	}
	return usageFailure(stderr, fmt.Sprintf("Error parsing command arguments: unknown config command %q", args[0]))
}

// validateFiles loads each file as "resedge run --config FILE" would (with
// the RESEDGE_ variables of env), and checks what would keep it from
// starting apart from binding and connecting: certificate files, ACME CA
// roots and storage. Every problem of every file is printed, each on its
// own line, located; valid files get "FILE: ok" on stdout. The exit code
// is 1 if any file has a problem. A missing file is a problem (it is not
// created).
func validateFiles(files, env []string, stdout, stderr io.Writer) int {
	code := 0
	for _, f := range files {
		var warnings []string
		cfg, err := schema.Load(schema.LoadOptions{File: f, Env: env, Warn: func(s string) { warnings = append(warnings, s) }})
		for _, w := range warnings {
			fmt.Fprintf(stderr, "%s: warning: %s\n", f, strings.ReplaceAll(w, "\n", " "))
		}
		if err == nil {
			err = prefixLines(f+": ", edge.Verify(cfg))
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", f)
	}
	return code
}

// prefixLines puts prefix before each line of err's message.
func prefixLines(prefix string, err error) error {
	if err == nil {
		return nil
	}
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return errors.New(strings.Join(lines, "\n"))
}

// initFile writes the starting config to path, which must not exist. The
// config is YAML, so path must be named so.
func initFile(path string, stdout, stderr io.Writer) int {
	if ext := strings.ToLower(filepath.Ext(path)); ext != ".yaml" && ext != ".yml" {
		fmt.Fprintf(stderr, "%s: the starting config is YAML; name the file .yaml or .yml\n", path)
		return 1
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			fmt.Fprintf(stderr, "%s already exists; not overwritten\n", path)
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	_, err = io.WriteString(f, schema.InitTemplate)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "Wrote %s; check it with: resedge config validate %s\n", path, path)
	return 0
}
