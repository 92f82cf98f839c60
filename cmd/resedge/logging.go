package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/lmittmann/tint"
)

// newLogger builds the process logger writing to w. format is one of auto,
// text, json or tint; auto picks tint when isTerminal is true and text
// otherwise. The level is info, or debug when debug or trace is set. The
// returned LevelVar can change the level later.
func newLogger(w io.Writer, format string, isTerminal, debug, trace bool) (*slog.Logger, *slog.LevelVar, error) {
	level := new(slog.LevelVar)
	level.Set(slog.LevelInfo)
	if debug || trace {
		level.Set(slog.LevelDebug)
	}

	if format == "auto" || format == "" {
		format = "text"
		if isTerminal {
			format = "tint"
		}
	}

	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	case "json":
		h = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	case "tint":
		// NO_COLOR (https://no-color.org) turns color off when non-empty.
		noColor := os.Getenv("NO_COLOR") != "" || !isTerminal
		h = tint.NewTextHandler(w, &tint.Options{
			Level:      level,
			TimeFormat: time.StampMicro,
			NoColor:    noColor,
		})
	default:
		return nil, nil, fmt.Errorf("unknown log format %q", format)
	}
	return slog.New(h), level, nil
}

// isTerminal reports whether f is a character device, such as a terminal.
// Pipes, files and /dev/null-like sinks used by service managers are not.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0 && fi.Mode()&os.ModeDevice != 0 && !isDevNull(fi)
}

// isDevNull reports whether fi describes /dev/null, which is a character
// device but not a terminal.
func isDevNull(fi os.FileInfo) bool {
	null, err := os.Stat(os.DevNull)
	return err == nil && os.SameFile(fi, null)
}
