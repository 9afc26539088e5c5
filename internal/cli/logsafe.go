package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/vexen/vexen-auth/internal/safetext"
)

// safeHandler passes every string of a log line (the message, attribute keys and
// values, group names, errors and other values as they would print) through
// safetext.Escape before the wrapped handler writes it. Client-controlled text (a
// User-Agent, an email, a forwarded-for header, an error quoting a request) can then
// neither forge a line nor drive a terminal: slog's JSON handler escapes C0 controls
// but writes DEL, C1 controls (U+0085 …) and bidirectional controls (U+202E …) raw. (Its
// text handler quotes any string holding a non-printable character with
// strconv.Quote, the same escapes, so Logger does not wrap it.) A line that needs
// no escaping is handed on untouched.
type safeHandler struct{ next slog.Handler }

// SafeHandler wraps h so that no log line it writes carries a control character,
// a bidirectional control or a byte that is not UTF-8 from any string it was given.
func SafeHandler(h slog.Handler) slog.Handler { return safeHandler{next: h} }

func (h safeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h safeHandler) Handle(ctx context.Context, r slog.Record) error {
	changed := safetext.NeedsEscape(r.Message)
	if !changed {
		r.Attrs(func(a slog.Attr) bool {
			_, changed = safeAttr(a)
			return !changed
		})
	}
	if !changed {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, safetext.Escape(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		a, _ = safeAttr(a)
		out.AddAttrs(a)
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h safeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	safe := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		safe[i], _ = safeAttr(a)
	}
	return safeHandler{next: h.next.WithAttrs(safe)}
}

func (h safeHandler) WithGroup(name string) slog.Handler {
	return safeHandler{next: h.next.WithGroup(safetext.Escape(name))}
}

// safeAttr returns a with its key and value escaped, and whether anything changed.
func safeAttr(a slog.Attr) (slog.Attr, bool) {
	changed := false
	if safetext.NeedsEscape(a.Key) {
		a.Key, changed = safetext.Escape(a.Key), true
	}
	if a.Value.Kind() == slog.KindLogValuer {
		a.Value, changed = a.Value.Resolve(), true
	}
	switch v := a.Value; v.Kind() {
	case slog.KindString:
		if s := v.String(); safetext.NeedsEscape(s) {
			a.Value, changed = slog.StringValue(safetext.Escape(s)), true
		}
	case slog.KindGroup:
		group := v.Group()
		var out []slog.Attr
		for i, g := range group {
			sg, c := safeAttr(g)
			if c && out == nil {
				out = append(make([]slog.Attr, 0, len(group)), group[:i]...)
			}
			if out != nil {
				out = append(out, sg)
			}
		}
		if out != nil {
			a.Value, changed = slog.GroupValue(out...), true
		}
	case slog.KindAny:
		// How a handler prints the value: an error by its message, anything else by
		// its fmt form (the text handler) or its JSON (the JSON handler). Either
		// holds the strings within; when one needs escaping, the escaped fmt form
		// replaces the value.
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		default:
			s = fmt.Sprintf("%+v", x)
		}
		if safetext.NeedsEscape(s) {
			a.Value, changed = slog.StringValue(safetext.Escape(s)), true
		}
	}
	return a, changed
}
