package resproto

import (
	"context"
	"log/slog"
)

// cidHandler is a connection's log handler: its parent's, with the
// connection ID added to each record as Logger.With("cid", id) adds it —
// after the parent's own attributes, before the record's — but at the time
// a line is logged. slog's built-in handlers format With attributes when
// the logger is made, which in profiles of HTTP API requests (a connection
// each) cost more than the connection itself; connections seldom log.
type cidHandler struct {
	slog.Handler
	cid string
}

// Handle implements slog.Handler.
func (h *cidHandler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	nr.AddAttrs(slog.String("cid", h.cid))
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(a)
		return true
	})
	return h.Handler.Handle(ctx, nr)
}

// WithAttrs implements slog.Handler.
func (h *cidHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.Handler.WithAttrs([]slog.Attr{slog.String("cid", h.cid)}).WithAttrs(as)
}

// WithGroup implements slog.Handler.
func (h *cidHandler) WithGroup(name string) slog.Handler {
	return h.Handler.WithAttrs([]slog.Attr{slog.String("cid", h.cid)}).WithGroup(name)
}
