package audit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/vexen/vexen-auth/internal/safetext"
)

// Event names: the "event" field of every line. docs/CONTRACT.md lists each one's fields.
const (
	EventLogin          = "login"           // sign-in attempt (result success or failure, with reason)
	EventLogout         = "logout"          // a user ended one session
	EventLogoutAll      = "logout_all"      // a user ended all their sessions
	EventRefreshReuse   = "refresh_reuse"   // a rotated refresh token came back: its session is revoked
	EventSessionRevoked = "session_revoked" // sessions revoked by an administrator or the Go API
	EventUserAdded      = "user_added"      // an administrator created a user
	EventUserDisabled   = "user_disabled"   // an administrator disabled a user (sessions revoked)
	EventUserEnabled    = "user_enabled"    // an administrator lifted a disable
	EventKeyRotated     = "key_rotated"     // a new signing key was written
	EventUserDeleted    = "user_deleted"    // an administrator deleted a user (sessions revoked)
	EventRolesChanged   = "roles_changed"   // an administrator replaced a user's roles (sessions revoked)
	// EventPasswordChanged: a password was set, by its user (account page, POST
	// /v1/password: the other sessions end) or an administrator (every session ends).
	EventPasswordChanged  = "password_changed"
	EventResetLinkCreated = "reset_link_created" // an administrator made a one-time password reset link
	EventResetLinkUsed    = "reset_link_used"    // a reset link was presented (success, or failure with reason)
	EventPolicyReload     = "policy_reload"      // the verifier reloaded its policy file (success or failure)
	EventDenied           = "access_denied"      // the verifier denied a request (rate limited)

	EventFactorAdded      = "mfa_factor_added"       // a user confirmed a second factor (attr method)
	EventFactorRemoved    = "mfa_factor_removed"     // a user removed a second factor (attr method)
	EventRecoveryCodeUsed = "mfa_recovery_code_used" // a recovery code stood in for a code (attr left)
)

// Results.
const (
	Success = "success"
	Failure = "failure"
)

// Actors: who did it.
const (
	ActorUser   = "user"   // the signed-in user (or the client presenting their token)
	ActorAdmin  = "admin"  // an operator through the issuer's admin commands
	ActorSystem = "system" // the service itself (reuse detection, a policy file change)
)

// Event is one security-relevant action. Empty fields are left out of the line.
// It must never hold a secret: no password, no token (a TokenHash prefix is fine).
type Event struct {
	Event      string
	Result     string // Success, Failure or ""
	Reason     string // why: a fixed word (wrong_password, unknown_user, …)
	UserID     string
	Email      string // client-controlled on a failed sign-in: escaped when written
	SessionID  string
	SessionIDs []string // sessions revoked by the action
	Actor      string
	ClientIP   netip.Addr // zero: taken from the context (WithClient)
	UserAgent  string     // "": taken from the context
	Via        string     // "": taken from the context (api or browser)
	// Attrs are event-specific fields (key_id, host, path, err, …). Strings are escaped.
	Attrs []slog.Attr
}

// Recorder takes audit events. *Logger and *Sampler implement it; consumers (the
// issuer's and the verifier's Deps) hold one, nil meaning no audit log.
type Recorder interface {
	Record(ctx context.Context, e Event)
}

var (
	_ Recorder = (*Logger)(nil)
	_ Recorder = (*Sampler)(nil)
)

// Client is what an adapter knows of the caller, carried by the context so that the
// core's events name the address and the channel without their signatures changing.
type Client struct {
	IP        netip.Addr
	UserAgent string
	Via       string // "api", "browser" or "cli"
	// Operator names who ran an admin command (the OS user), for "actor":"admin".
	Operator string
}

type clientKey struct{}

// WithClient returns ctx carrying c for the events recorded under it.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the Client WithClient stored in ctx (the zero Client if none).
func ClientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}

// Logger writes each Event as one JSON line {"time","level","audit":true,"event",…}.
// Every string is passed through safetext.Escape, so a client-controlled email or
// User-Agent can neither forge a line nor carry a control character. It is safe for
// concurrent use.
type Logger struct {
	log *slog.Logger
}

// New returns a Logger writing JSON lines to w (os.Stdout, or an OpenFile result).
func New(w io.Writer) *Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.MessageKey {
				return slog.Attr{} // "event" names the line
			}
			return a
		},
	})
	return &Logger{log: slog.New(h)}
}

// OpenFile opens path for the audit log: created 0600 if missing, always appended to
// (O_APPEND, so several writers and logrotate's copytruncate keep whole lines). An
// existing file's mode is left as the operator set it.
func OpenFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return f, nil
}

// Record writes e as one line at Info level.
func (l *Logger) Record(ctx context.Context, e Event) {
	c := ClientFrom(ctx)
	if !e.ClientIP.IsValid() {
		e.ClientIP = c.IP
	}
	if e.UserAgent == "" {
		e.UserAgent = c.UserAgent
	}
	if e.Via == "" {
		e.Via = c.Via
	}
	attrs := make([]slog.Attr, 0, 14+len(e.Attrs))
	attrs = append(attrs, slog.Bool("audit", true), slog.String("event", e.Event))
	str := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, safetext.Escape(v)))
		}
	}
	str("result", e.Result)
	str("reason", e.Reason)
	str("user_id", e.UserID)
	str("email", e.Email)
	str("session_id", e.SessionID)
	if len(e.SessionIDs) > 0 {
		ids := make([]string, len(e.SessionIDs))
		for i, id := range e.SessionIDs {
			ids[i] = safetext.Escape(id)
		}
		attrs = append(attrs, slog.Any("session_ids", ids))
	}
	str("actor", e.Actor)
	if e.ClientIP.IsValid() {
		attrs = append(attrs, slog.String("client_ip", e.ClientIP.String()))
	}
	str("user_agent", e.UserAgent)
	str("via", e.Via)
	str("operator", c.Operator)
	for _, a := range e.Attrs {
		attrs = append(attrs, escapeAttr(a))
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, "", attrs...)
}

func escapeAttr(a slog.Attr) slog.Attr {
	a.Key = safetext.Escape(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(safetext.Escape(v.String()))
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			a.Value = slog.StringValue(safetext.Escape(x.Error()))
		case []string:
			out := make([]string, len(x))
			for i, s := range x {
				out[i] = safetext.Escape(s)
			}
			a.Value = slog.AnyValue(out)
		default:
			a.Value = slog.StringValue(safetext.Escape(fmt.Sprint(v.Any())))
		}
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, x := range g {
			out[i] = escapeAttr(x)
		}
		a.Value = slog.GroupValue(out...)
	default:
		a.Value = v
	}
	return a
}

// Sampler passes events on to a Recorder at most at a steady rate (a token bucket),
// so that a flood (a scanner hammering the verifier with bad tokens) cannot fill a
// disk. Events over the rate are dropped and counted: the next line that passes
// carries "dropped":N, the number dropped since the line before, and Dropped returns
// the total.
type Sampler struct {
	next    Recorder
	lim     *rate.Limiter
	dropped atomic.Uint64 // total
	mu      sync.Mutex
	pending uint64 // dropped since the last line written
}

// NewSampler returns a Sampler passing perSecond events a second on average to next,
// bursts of up to burst. perSecond <= 0 or burst <= 0 takes the defaults 10 and 100.
func NewSampler(next Recorder, perSecond float64, burst int) *Sampler {
	if perSecond <= 0 {
		perSecond = 10
	}
	if burst <= 0 {
		burst = 100
	}
	return &Sampler{next: next, lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// Record passes e on, or drops and counts it when over the rate.
func (s *Sampler) Record(ctx context.Context, e Event) {
	if n, ok := s.Allow(); ok {
		s.Emit(ctx, e, n)
	}
}

// Allow takes one event from the bucket: ok false means the event is dropped (and
// counted), so a caller on a hot path builds its Event only when ok, then hands it to
// Emit with n, the number dropped since the last line written.
func (s *Sampler) Allow() (n uint64, ok bool) { return s.allow(time.Now()) }

func (s *Sampler) allow(now time.Time) (uint64, bool) {
	s.mu.Lock()
	if !s.lim.AllowN(now, 1) {
		s.pending++
		s.mu.Unlock()
		s.dropped.Add(1)
		return 0, false
	}
	n := s.pending
	s.pending = 0
	s.mu.Unlock()
	return n, true
}

// Emit writes an event Allow let through; n > 0 adds "dropped":n to it.
func (s *Sampler) Emit(ctx context.Context, e Event, n uint64) {
	if n > 0 {
		e.Attrs = append(e.Attrs[:len(e.Attrs):len(e.Attrs)], slog.Uint64("dropped", n))
	}
	s.next.Record(ctx, e)
}

func (s *Sampler) record(ctx context.Context, e Event, now time.Time) {
	if n, ok := s.allow(now); ok {
		s.Emit(ctx, e, n)
	}
}

// Dropped is the number of events dropped since the Sampler was made.
func (s *Sampler) Dropped() uint64 { return s.dropped.Load() }
