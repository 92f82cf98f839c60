package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		name         string
		format       string
		terminal     bool
		debug, trace bool
		wantDebug    bool
		check        func(out string) bool
	}{
		{name: "auto on a pipe is text", format: "auto", check: func(s string) bool {
			return strings.HasPrefix(s, "time=") && strings.Contains(s, "level=INFO msg=hello")
		}},
		{name: "auto on a terminal is tint", format: "auto", terminal: true, check: func(s string) bool { return strings.Contains(s, "INF") && strings.Contains(s, "\x1b[") }},
		{name: "text", format: "text", terminal: true, check: func(s string) bool { return strings.Contains(s, "level=INFO msg=hello") }},
		{name: "json", format: "json", check: func(s string) bool {
			var m map[string]any
			return json.Unmarshal([]byte(strings.SplitN(s, "\n", 2)[0]), &m) == nil && m["msg"] == "hello"
		}},
		{name: "tint without terminal has no color", format: "tint", check: func(s string) bool { return strings.Contains(s, "INF hello") && !strings.Contains(s, "\x1b[") }},
		{name: "debug", format: "text", debug: true, wantDebug: true, check: func(s string) bool { return strings.Contains(s, "level=DEBUG") }},
		{name: "trace implies debug level", format: "json", trace: true, wantDebug: true, check: func(s string) bool { return strings.Contains(s, `"level":"DEBUG"`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", "")
			var buf bytes.Buffer
			log, level, err := newLogger(&buf, tt.format, tt.terminal, tt.debug, tt.trace)
			if err != nil {
				t.Fatal(err)
			}
			log.Info("hello", "k", "v")
			log.Debug("details")
			if got := level.Level() == slog.LevelDebug; got != tt.wantDebug {
				t.Errorf("debug level = %v, want %v", got, tt.wantDebug)
			}
			if strings.Contains(buf.String(), "details") != tt.wantDebug {
				t.Errorf("debug record written = %v, want %v:\n%s", !tt.wantDebug, tt.wantDebug, buf.String())
			}
			if !tt.check(buf.String()) {
				t.Errorf("unexpected output:\n%q", buf.String())
			}
		})
	}
	if _, _, err := newLogger(new(bytes.Buffer), "xml", false, false, false); err == nil {
		t.Error("want an error for an unknown format")
	}
}
