package tlsmgr

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZapLogger returns a zap logger, which certmagic requires, writing to
// log. certmagic's info lines (locks, challenges, each step of an order)
// are routine, so they go to debug level; the manager logs what an
// operator needs (obtained, renewed, expiry, failures) itself. Warnings
// and errors keep their level.
func newZapLogger(log *slog.Logger) *zap.Logger {
	return zap.New(&slogCore{h: log.Handler()})
}

// slogCore is a zapcore.Core that hands entries to a slog.Handler.
type slogCore struct {
	h slog.Handler
}

// demoted are certmagic messages logged at debug level whatever their
// level: ones any client can cause (a TLS-ALPN handshake without a
// challenge), and ones the manager logs itself in resedge's words
// ("Certificate could not be obtained").
var demoted = map[string]bool{
	"tls-alpn challenge":                    true,
	"could not get certificate from issuer": true,
}

// slogLevel maps a zap entry's level to the slog level it is logged at.
func slogLevel(e zapcore.Entry) slog.Level {
	if demoted[e.Message] {
		return slog.LevelDebug
	}
	switch l := e.Level; {
	case l <= zapcore.InfoLevel:
		return slog.LevelDebug
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

// Enabled implements zapcore.Core.
func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.h.Enabled(context.Background(), slogLevel(zapcore.Entry{Level: l}))
}

// With implements zapcore.Core.
func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{h: c.h.WithAttrs(attrs(fields))}
}

// Check implements zapcore.Core.
func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.h.Enabled(context.Background(), slogLevel(e)) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write implements zapcore.Core.
func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(e.Time, slogLevel(e), e.Message, 0)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(attrs(fields)...)
	return c.h.Handle(context.Background(), r)
}

// Sync implements zapcore.Core.
func (c *slogCore) Sync() error { return nil }

// attrs converts zap fields to slog attributes.
func attrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make([]slog.Attr, 0, len(enc.Fields))
	for _, f := range fields { // in the order given, not the map's
		if v, ok := enc.Fields[f.Key]; ok {
			out = append(out, slog.Any(f.Key, v))
			delete(enc.Fields, f.Key)
		}
	}
	return out
}
