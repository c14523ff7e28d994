package secret

import (
	"context"
	"fmt"
	"log/slog"
)

// Handler is a slog.Handler that scrubs secrets from the message and from
// every attribute before handing the record to the next handler: the last
// guard for a secret quoted by a driver's error or logged by a caller that
// forgot to mask it.
type Handler struct {
	next    slog.Handler
	secrets func() []string // called once per record: secrets may be added later
}

// NewHandler returns a Handler scrubbing the secrets secrets returns (at
// the time of each record) before next.
func NewHandler(next slog.Handler, secrets func() []string) *Handler {
	return &Handler{next: next, secrets: secrets}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	secrets := h.secrets()
	if len(secrets) == 0 {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, Scrub(r.Message, secrets), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(scrubAttr(a, secrets))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	secrets := h.secrets()
	s := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		s[i] = scrubAttr(a, secrets)
	}
	return &Handler{next: h.next.WithAttrs(s), secrets: h.secrets}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), secrets: h.secrets}
}

// scrubAttr scrubs one attribute; values other than strings and groups are
// scrubbed in their printed form.
func scrubAttr(a slog.Attr, secrets []string) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Scrub(v.String(), secrets))
	case slog.KindGroup:
		g := v.Group()
		s := make([]any, len(g))
		for i, ga := range g {
			s[i] = scrubAttr(ga, secrets)
		}
		return slog.Group(a.Key, s...)
	case slog.KindAny:
		printed := fmt.Sprint(v.Any())
		if clean := Scrub(printed, secrets); clean != printed {
			return slog.String(a.Key, clean)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
