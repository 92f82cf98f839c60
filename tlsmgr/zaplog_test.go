package tlsmgr

import (
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// TestZapToSlog: certmagic's zap logs reach slog at resedge's levels (its
// routine info at debug; demoted messages at debug), with their fields.
func TestZapToSlog(t *testing.T) {
	tests := []struct {
		name string
		log  func(*zap.Logger)
		want string // "" for nothing logged at info level
	}{
		{"info is debug", func(z *zap.Logger) { z.Info("acquiring lock", zap.String("identifier", "a.example")) }, ""},
		{"warn", func(z *zap.Logger) { z.Warn("HTTP request failed; retrying", zap.Int("attempt", 2)) }, `level=WARN msg="HTTP request failed; retrying" attempt=2`},
		{"error with context", func(z *zap.Logger) {
			z.Named("obtain").With(zap.String("identifier", "a.example")).Error("will retry", zap.Strings("names", []string{"a", "b"}))
		}, `level=ERROR msg="will retry" identifier=a.example logger=obtain names="[a b]"`},
		{"client-caused error is debug", func(z *zap.Logger) { z.Error("tls-alpn challenge", zap.String("server_name", "x")) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf strings.Builder
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
				Level:       slog.LevelInfo,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr { return dropTime(a) },
			}))
			tt.log(newZapLogger(log))
			if got := strings.TrimSpace(buf.String()); got != tt.want {
				t.Errorf("logged %q\nwant %q", got, tt.want)
			}
		})
	}
}

func dropTime(a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
