package issue

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/audit"
)

// TestPasskeys runs the passkey tests on both real stores, with a software
// authenticator (softKey) against the issuer at http://localhost:8080.
func TestPasskeys(t *testing.T) {
	tests := []struct {
		name string
		run  func(*testing.T, *env, *testenv.Buffer)
	}{
		{"RegisterSignInAlone", testPasskeyAlone},
		{"NotVerifiedIsNotMFA", testPasskeyNotVerified},
		{"SyncedIsSWK", testPasskeySynced},
		{"SecondFactor", testPasskeySecondFactor},
		{"StepUp", testPasskeyStepUp},
		{"Errors", testPasskeyErrors},
		{"CounterRegression", testPasskeyCounterRegression},
		{"RemoveLastFactor", testPasskeyRemove},
		{"FailuresThrottled", testPasskeyThrottle},
		{"RegistrationErrors", testPasskeyRegistrationErrors},
	}
	for _, rs := range realStores {
		t.Run(rs.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					buf := &testenv.Buffer{}
					e := newEnv(t, rs.open(t), func(c *Config, d *Deps) {
						c.LoginRate.PerAccount = Rate{Events: 5, Per: time.Minute, Burst: 5}
						d.Audit = audit.New(buf)
					})
					tt.run(t, e, buf)
				})
			}
		})
	}
}

const (
	pkRPID   = "localhost"
	pkOrigin = "http://localhost:8080"
)

var pkIP = netip.MustParseAddr("192.0.2.44")

func (e *env) claims(p TokenPair) Claims {
	e.t.Helper()
	c, err := e.svc.VerifyAccessToken(p.AccessToken, false)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// registerPasskey signs the user in with the password and registers k as name.
func (e *env) registerPasskey(p TokenPair, k *softKey, name string) Passkey {
	e.t.Helper()
	c := e.claims(p)
	opts, err := e.svc.BeginPasskeyRegistration(e.t.Context(), c)
	if err != nil {
		e.t.Fatalf("BeginPasskeyRegistration: %v", err)
	}
	pk, err := e.svc.FinishPasskeyRegistration(e.t.Context(), c, name, k.register(opts), pkIP)
	if err != nil {
		e.t.Fatalf("FinishPasskeyRegistration: %v", err)
	}
	e.clock.Advance(time.Second) // passkeys list oldest first
	return pk
}

// passkeyLogin signs in with k alone.
func (e *env) passkeyLogin(k *softKey) (TokenPair, error) {
	e.t.Helper()
	opts, err := e.svc.BeginPasskeyLogin(e.t.Context(), pkIP)
	if err != nil {
		e.t.Fatalf("BeginPasskeyLogin: %v", err)
	}
	return e.svc.FinishPasskeyLogin(e.t.Context(), PasskeyLoginRequest{Response: k.assert(opts), ClientIP: pkIP, UserAgent: "test"})
}

func testPasskeyAlone(t *testing.T, e *env, buf *testenv.Buffer) {
	id := e.addUser("pk@example.com", "pk password")
	p := e.login("pk@example.com", "pk password")
	k1, k2 := newSoftKey(t, pkRPID, pkOrigin), newSoftKey(t, pkRPID, pkOrigin)
	e.registerPasskey(p, k1, "laptop")
	e.registerPasskey(p, k2, "phone")
	list, err := e.svc.Passkeys(t.Context(), id)
	if err != nil || len(list) != 2 || list[0].Name != "laptop" || list[1].Name != "phone" || !list[0].LastUsedAt.IsZero() {
		t.Fatalf("Passkeys = %+v, %v", list, err)
	}
	for _, k := range []*softKey{k1, k2, k1} {
		q, err := e.passkeyLogin(k)
		if err != nil {
			t.Fatalf("passkey sign-in: %v", err)
		}
		if got := e.amr(q.AccessToken); !slices.Equal(got, []string{"hwk", "mfa"}) {
			t.Errorf("amr %v after a verified passkey, want [hwk mfa]", got)
		}
		if e.claims(q).Subject != id {
			t.Error("signed in as another user")
		}
	}
	if list, _ := e.svc.Passkeys(t.Context(), id); list[0].LastUsedAt.IsZero() {
		t.Error("last use not recorded")
	}
	// The password now asks for the second factor, offering the passkey.
	err = loginErr(e, "pk@example.com", "pk password")
	var mr *MFARequiredError
	if !errors.As(err, &mr) || !slices.Equal(mr.Methods, []string{"webauthn"}) {
		t.Fatalf("password login = %v, want mfa_required with methods [webauthn]", err)
	}
	if n := len(auditHas(t, buf, audit.EventFactorAdded)); n != 2 {
		t.Errorf("%d mfa_factor_added lines, want 2", n)
	}
}

func loginErr(e *env, email, pw string) error {
	_, err := e.svc.Login(e.t.Context(), LoginRequest{Email: email, Password: pw, ClientIP: pkIP})
	return err
}

func testPasskeyNotVerified(t *testing.T, e *env, _ *testenv.Buffer) {
	e.addUser("up@example.com", "up password")
	k := newSoftKey(t, pkRPID, pkOrigin)
	k.uv = false
	e.registerPasskey(e.login("up@example.com", "up password"), k, "key")
	q, err := e.passkeyLogin(k)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.amr(q.AccessToken); !slices.Equal(got, []string{"hwk"}) {
		t.Errorf("amr %v after a passkey with the user present only, want [hwk] (not mfa)", got)
	}
}

func testPasskeySynced(t *testing.T, e *env, _ *testenv.Buffer) {
	e.addUser("sync@example.com", "sync password")
	k := newSoftKey(t, pkRPID, pkOrigin)
	k.be = true
	pk := e.registerPasskey(e.login("sync@example.com", "sync password"), k, "password manager")
	if !pk.Synced {
		t.Error("a backup-eligible passkey not shown as synced")
	}
	q, err := e.passkeyLogin(k)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.amr(q.AccessToken); !slices.Equal(got, []string{"swk", "mfa"}) {
		t.Errorf("amr %v after a synced passkey, want [swk mfa]", got)
	}
}

func testPasskeySecondFactor(t *testing.T, e *env, _ *testenv.Buffer) {
	e.addUser("two@example.com", "two password")
	k := newSoftKey(t, pkRPID, pkOrigin)
	k.uv = false // after a password, presence is enough for mfa
	e.registerPasskey(e.login("two@example.com", "two password"), k, "key")
	tok := e.mfaToken("two@example.com", "two password")
	opts, err := e.svc.BeginPasskeyMFA(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.svc.FinishPasskeyMFA(t.Context(), PasskeyLoginRequest{Response: k.assert(opts), MFAToken: tok, ClientIP: pkIP})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.amr(q.AccessToken); !slices.Equal(got, []string{"pwd", "hwk", "mfa"}) {
		t.Errorf("amr %v, want [pwd hwk mfa]", got)
	}
	// The mfa_token is used up.
	if _, err := e.svc.BeginPasskeyMFA(t.Context(), tok); !errors.Is(err, ErrInvalidMFAToken) {
		t.Errorf("BeginPasskeyMFA with a used mfa_token = %v", err)
	}
}

func (e *env) mfaToken(email, pw string) string {
	e.t.Helper()
	var mr *MFARequiredError
	if err := loginErr(e, email, pw); !errors.As(err, &mr) {
		e.t.Fatalf("login = %v, want mfa_required", err)
	}
	return mr.Token
}

func testPasskeyStepUp(t *testing.T, e *env, _ *testenv.Buffer) {
	e.addUser("step@example.com", "step password")
	k := newSoftKey(t, pkRPID, pkOrigin)
	p := e.login("step@example.com", "step password") // before the passkey: amr pwd
	e.registerPasskey(p, k, "key")
	err := e.svc.StepUp(t.Context(), p.AccessToken, "ua", pkIP)
	var mr *MFARequiredError
	if !errors.As(err, &mr) || !slices.Equal(mr.Methods, []string{"webauthn"}) {
		t.Fatalf("StepUp = %v", err)
	}
	opts, err := e.svc.BeginPasskeyMFA(t.Context(), mr.Token)
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.svc.FinishPasskeyMFA(t.Context(), PasskeyLoginRequest{Response: k.assert(opts), MFAToken: mr.Token, ClientIP: pkIP})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.amr(q.AccessToken); !slices.Equal(got, []string{"pwd", "hwk", "mfa"}) {
		t.Errorf("amr %v after step-up, want [pwd hwk mfa]", got)
	}
	if e.live(p.AccessToken) {
		t.Error("the session stepped up from is still live")
	}
}

// testPasskeyErrors: every way an answer is refused, each with ErrPasskeyRefused and
// no session.
func testPasskeyErrors(t *testing.T, e *env, buf *testenv.Buffer) {
	e.addUser("err@example.com", "err password")
	k := newSoftKey(t, pkRPID, pkOrigin)
	e.registerPasskey(e.login("err@example.com", "err password"), k, "key")
	ctx := t.Context()
	finish := func(resp []byte) error {
		_, err := e.svc.FinishPasskeyLogin(ctx, PasskeyLoginRequest{Response: resp, ClientIP: pkIP})
		return err
	}
	begin := func() []byte {
		opts, err := e.svc.BeginPasskeyLogin(ctx, pkIP)
		if err != nil {
			t.Fatal(err)
		}
		return opts
	}

	// A challenge the issuer never handed out.
	if err := finish(k.assertChallenge(b64u.EncodeToString([]byte("a challenge nobody issued!")))); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("bad challenge: %v", err)
	}
	// A replayed answer: the ceremony is used up (and the counter did not grow).
	good := k.assert(begin())
	if err := finish(good); err != nil {
		t.Fatalf("first answer: %v", err)
	}
	if err := finish(good); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("replayed answer: %v", err)
	}
	// Another origin (a phishing site relaying the challenge).
	evil := *k
	evil.origin = "https://login.evil.example"
	if err := finish(evil.assert(begin())); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("wrong origin: %v", err)
	}
	// Another RP ID in the authenticator data.
	other := *k
	other.rpID = "evil.example"
	if err := finish(other.assert(begin())); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("wrong RP ID: %v", err)
	}
	// An unknown credential of the same user handle, and of an unknown user.
	stranger := newSoftKey(t, pkRPID, pkOrigin)
	stranger.userHandle = k.userHandle
	if err := finish(stranger.assert(begin())); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("unknown credential: %v", err)
	}
	stranger.userHandle = []byte("no-such-user")
	if err := finish(stranger.assert(begin())); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("unknown user handle: %v", err)
	}
	// A wrong signature.
	forged := *k
	forged.key = newSoftKey(t, pkRPID, pkOrigin).key
	if err := finish(forged.assert(begin())); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("forged signature: %v", err)
	}
	// Garbage.
	if err := finish([]byte(`{"id":"x"}`)); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("garbage: %v", err)
	}
	if n := len(auditHas(t, buf, audit.EventLogin)); n < 7 {
		t.Errorf("%d login audit lines, want the failures recorded", n)
	}
	// Still works after all that.
	if err := finish(k.assert(begin())); err != nil {
		t.Errorf("a good answer after the refusals: %v", err)
	}
}

func testPasskeyCounterRegression(t *testing.T, e *env, buf *testenv.Buffer) {
	e.addUser("clone@example.com", "clone password")
	k := newSoftKey(t, pkRPID, pkOrigin)
	k.count = 10
	e.registerPasskey(e.login("clone@example.com", "clone password"), k, "key")
	if _, err := e.passkeyLogin(k); err != nil { // counter 11
		t.Fatal(err)
	}
	clone := *k
	clone.count = 5 // a copy of the key that signed less
	if _, err := e.passkeyLogin(&clone); !errors.Is(err, ErrPasskeyRefused) {
		t.Fatalf("counter regression: %v", err)
	}
	lines := auditHas(t, buf, audit.EventLogin)
	found := false
	for _, l := range lines {
		if l["reason"] == loginCounterRegression && l["stored_count"] == float64(11) && l["count"] == float64(5) {
			found = true
		}
	}
	if !found {
		t.Errorf("no counter_regression audit line: %v", lines)
	}
	if _, err := e.passkeyLogin(k); err != nil { // the original, counter 12, still works
		t.Errorf("the original key after a refused clone: %v", err)
	}
}

func testPasskeyRemove(t *testing.T, e *env, buf *testenv.Buffer) {
	id := e.addUser("rm@example.com", "rm password")
	k := newSoftKey(t, pkRPID, pkOrigin)
	p := e.login("rm@example.com", "rm password")
	pk := e.registerPasskey(p, k, "key")
	// A password-only session may not remove it.
	if err := e.svc.RemovePasskey(t.Context(), e.claims(p), pk.ID, pkIP); !errors.Is(err, ErrStepUpNeeded) {
		t.Fatalf("remove from a session without mfa: %v", err)
	}
	q, err := e.passkeyLogin(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RemovePasskey(t.Context(), e.claims(q), "AAAA", pkIP); !errors.Is(err, ErrNoFactor) {
		t.Errorf("remove an unknown passkey: %v", err)
	}
	if err := e.svc.RemovePasskey(t.Context(), e.claims(q), pk.ID, pkIP); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if list, _ := e.svc.Passkeys(t.Context(), id); len(list) != 0 {
		t.Fatalf("passkeys after removal: %v", list)
	}
	// The last factor gone: the password alone signs in again; the key no longer does.
	if err := loginErr(e, "rm@example.com", "rm password"); err != nil {
		t.Errorf("password after the last factor went: %v", err)
	}
	if _, err := e.passkeyLogin(k); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("a removed passkey: %v", err)
	}
	if lines := auditHas(t, buf, audit.EventFactorRemoved); len(lines) != 1 || lines[0]["method"] != "webauthn" {
		t.Errorf("mfa_factor_removed lines %v", lines)
	}
}

// testPasskeyThrottle: failed answers take from the account's login bucket like
// wrong codes; when it is empty even a right answer waits.
func testPasskeyThrottle(t *testing.T, e *env, _ *testenv.Buffer) {
	e.addUser("thr@example.com", "thr password")
	k := newSoftKey(t, pkRPID, pkOrigin)
	e.registerPasskey(e.login("thr@example.com", "thr password"), k, "key")
	forged := *k
	forged.key = newSoftKey(t, pkRPID, pkOrigin).key
	for i := range 5 {
		if _, err := e.passkeyLogin(&forged); !errors.Is(err, ErrPasskeyRefused) {
			t.Fatalf("forged answer %d: %v", i, err)
		}
	}
	var rl *RateLimitError
	if _, err := e.passkeyLogin(k); !errors.As(err, &rl) {
		t.Fatalf("after 5 failures: %v, want rate limited", err)
	}
	if got := e.counter("vexen_issuer_logins_total", "result", "wrong_code"); got < 5 {
		t.Errorf("wrong_code logins %v, want 5", got)
	}
}

func testPasskeyRegistrationErrors(t *testing.T, e *env, buf *testenv.Buffer) {
	e.addUser("reg@example.com", "reg password")
	e.addUser("reg2@example.com", "reg2 password")
	ctx := t.Context()
	p := e.login("reg@example.com", "reg password")
	c := e.claims(p)
	c2 := e.claims(e.login("reg2@example.com", "reg2 password"))
	k := newSoftKey(t, pkRPID, pkOrigin)
	opts, err := e.svc.BeginPasskeyRegistration(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	resp := k.register(opts)
	for _, name := range []string{"", "  ", strings.Repeat("x", 65), "bad\x00name"} {
		if _, err := e.svc.FinishPasskeyRegistration(ctx, c, name, resp, pkIP); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("name %q: %v", name, err)
		}
	}
	// Another user cannot finish it.
	if _, err := e.svc.FinishPasskeyRegistration(ctx, c2, "key", resp, pkIP); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("another user's ceremony: %v", err)
	}
	// Taken by that attempt: the owner's answer now finds nothing.
	if _, err := e.svc.FinishPasskeyRegistration(ctx, c, "key", resp, pkIP); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("a used ceremony: %v", err)
	}
	// Wrong origin at registration.
	evil := newSoftKey(t, pkRPID, "https://evil.example")
	opts, _ = e.svc.BeginPasskeyRegistration(ctx, c)
	if _, err := e.svc.FinishPasskeyRegistration(ctx, c, "key", evil.register(opts), pkIP); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("registration from another origin: %v", err)
	}
	// A sign-in challenge answered as a registration.
	lopts, _ := e.svc.BeginPasskeyLogin(ctx, pkIP)
	if _, err := e.svc.FinishPasskeyRegistration(ctx, c, "key", k.register(lopts), pkIP); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("a sign-in challenge registered: %v", err)
	}
	// The same key twice.
	e.registerPasskey(p, k, "key")
	opts, _ = e.svc.BeginPasskeyRegistration(ctx, c)
	if _, err := e.svc.FinishPasskeyRegistration(ctx, c, "again", k.register(opts), pkIP); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("the same key twice: %v", err)
	}
	// A sign-in ceremony answered by a registration response is refused too.
	lopts, _ = e.svc.BeginPasskeyLogin(ctx, pkIP)
	if _, err := e.svc.FinishPasskeyLogin(ctx, PasskeyLoginRequest{Response: k.register(lopts), ClientIP: pkIP}); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("a registration response as sign-in: %v", err)
	}
	if n := len(auditHas(t, buf, audit.EventFactorAdded)); n < 4 {
		t.Errorf("%d mfa_factor_added lines, want the failures too", n)
	}
}

// BenchmarkPasskeyLogin is a whole passkey sign-in on SQLite: begin (a ceremony
// stored), the software authenticator's answer, finish (ceremony taken, signature
// checked, counter written, session opened).
func BenchmarkPasskeyLogin(b *testing.B) {
	e := newEnv(b, sqliteStore(b), func(c *Config, _ *Deps) {
		c.LoginRate.PerIP = Rate{Events: 100000, Per: time.Second, Burst: 100000}
		c.LoginRate.PerAccount = Rate{Events: 100000, Per: time.Second, Burst: 100000}
	})
	e.addUser("bench@example.com", "bench password")
	k := newSoftKey(b, pkRPID, pkOrigin)
	e.registerPasskey(e.login("bench@example.com", "bench password"), k, "key")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.passkeyLogin(k); err != nil {
			b.Fatal(err)
		}
	}
}
