// Command resedge is a RES protocol gateway: a drop-in replacement for
// Resgate v1.8.0, and an edge service configured by one file.
//
//	resedge [flags]                  run (Resgate's flags work unchanged)
//	resedge run [flags]
//	resedge config validate FILE...  check config files, print every problem
//	resedge config schema            print the JSON Schema of the config file
//	resedge config init [FILE]       write a commented starting config
//	resedge version
//
// run loads its configuration with schema.Load (defaults, then the file of
// -c/--config, then RESEDGE_ environment variables, then flags), runs it
// with an edge.Server, reloads it on SIGHUP and stops gracefully on SIGTERM
// or SIGINT, telling systemd about each step when NOTIFY_SOCKET is set.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/resedge/resedge/resproto"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; it returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "run":
			return runCommand(args[1:], stdout, stderr)
		case "config":
			return configCommand(args[1:], stdout, stderr)
		case "version":
			if len(args) > 1 {
				return usageFailure(stderr, fmt.Sprintf("Error parsing command arguments: unexpected argument %q", args[1]))
			}
			printVersion(stdout)
			return 0
		case "help":
			fmt.Fprint(stdout, usageText)
			return 0
		default:
			return usageFailure(stderr, fmt.Sprintf("Error parsing command arguments: unknown command %q", args[0]))
		}
	}
	return runCommand(args, stdout, stderr)
}

// runCommand runs the gateway: "resedge run [flags]", or "resedge [flags]".
func runCommand(args []string, stdout, stderr io.Writer) int {
	cl, err := parseCommandLine(args)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, usageText)
		return 0
	case errors.Is(err, errVersion):
		printVersion(stdout)
		return 0
	case err != nil:
		var ue *usageError
		if errors.As(err, &ue) {
			return usageFailure(stderr, err.Error())
		}
		fmt.Fprintln(stderr, err)
		return 1
	}
	warn := func(s string) { fmt.Fprintln(stderr, s) }
	cfg, err := loadConfig(cl, os.Environ(), warn)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return serve(cl, cfg, stderr)
}

// usageFailure prints a command line error and the usage text, as Resgate
// does, and returns the exit code 1.
func usageFailure(stderr io.Writer, msg string) int {
	fmt.Fprintln(stderr, msg)
	fmt.Fprint(stderr, usageText)
	return 1
}

// printVersion writes the version lines in Resgate's layout.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "resedge  v%s\nprotocol v%s\n", Version, resproto.Protocol)
}
