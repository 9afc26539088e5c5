package issue

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestScheduledRotation: on an injected clock, the scheduled key is added
// KeyPrepublish before it is due to sign, is in the JWKS from then on, signs at
// creation + KeyPrepublish, and its predecessor leaves the JWKS AccessTTL + KeyRescan
// + Leeway later; a manual rotation (RotateKey's file) postpones the schedule.
func TestScheduledRotation(t *testing.T) {
	cfg := testConfig(t)
	cfg.KeyRotation, cfg.KeyPrepublish = 10*time.Hour, time.Hour
	clock := newFakeClock()
	ks := keySourceFor(t, cfg, clock)
	ctx := t.Context()
	first := ks.current().signer.kid
	rotate := func() string {
		t.Helper()
		kid, err := ks.rotateIfDue(ctx, nil)
		if err != nil {
			t.Fatalf("rotateIfDue: %v", err)
		}
		return kid
	}
	jwks := func() []string { return kids(parseJWKS(t, ks.current().jwks)) }

	clock.Advance(9*time.Hour - time.Nanosecond)
	if kid := rotate(); kid != "" {
		t.Fatalf("a key %s was added before rotation - prepublish", kid)
	}
	clock.Advance(time.Nanosecond)
	second := rotate()
	if second == "" {
		t.Fatal("no key added at rotation - prepublish")
	}
	if kid := rotate(); kid != "" {
		t.Fatalf("a second key %s was added for the same turn", kid)
	}
	if got := jwks(); !slices.Equal(got, []string{first, second}) {
		t.Fatalf("JWKS %v, want the signer and the prepublished key", got)
	}
	clock.Advance(time.Hour - time.Nanosecond)
	if got := ks.current().signer.kid; got != first {
		t.Fatalf("the new key signs %v early", time.Nanosecond)
	}
	clock.Advance(time.Nanosecond)
	if got := ks.current().signer.kid; got != second {
		t.Fatalf("signer %s at rotation time, want %s", got, second)
	}
	window := cfg.AccessTTL + cfg.KeyRescan + cfg.Leeway
	clock.Advance(window - time.Nanosecond)
	if got := jwks(); !slices.Equal(got, []string{first, second}) {
		t.Fatalf("JWKS %v before the last token of the old key expired, want both", got)
	}
	clock.Advance(time.Nanosecond)
	if got := jwks(); !slices.Equal(got, []string{second}) {
		t.Fatalf("JWKS %v once no token of the old key can be live, want only %s", got, second)
	}

	// The next scheduled key is due rotation after the second was made (it signs
	// for rotation). A manual rotation 2h after the switch postpones it: due
	// rotation after the manual key.
	if got, want := ks.rotationDue(), t0.Add(19*time.Hour); !got.Equal(want) {
		t.Fatalf("next rotation due %v, want %v (rotation after the second key)", got, want)
	}
	clock.Advance(2*time.Hour - window)
	manual, err := generateKey(cfg.KeysDir, cfg.Alg, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.rescan(); err != nil {
		t.Fatal(err)
	}
	if got, want := ks.rotationDue(), clock.Now().Add(10*time.Hour); !got.Equal(want) {
		t.Fatalf("next rotation due %v, want %v (10h after the manual key)", got, want)
	}
	clock.Advance(10*time.Hour - time.Nanosecond)
	if kid := rotate(); kid != "" {
		t.Fatalf("a key %s was added before the schedule counted from the manual one", kid)
	}
	clock.Advance(time.Nanosecond)
	if kid := rotate(); kid == "" || kid == manual {
		t.Fatalf("no scheduled key after the manual one (%q)", kid)
	}
}

// TestRotationOnceAcrossServices: two issuers (Services) sharing one PostgreSQL
// database and one keys directory, both finding the rotation due at the same
// moment, add one key between them, and both sign with it once it is due.
func TestRotationOnceAcrossServices(t *testing.T) {
	url := testenv.PostgresURL(t)
	cfg := testConfig(t)
	cfg.KeyRotation, cfg.KeyPrepublish = 10*time.Hour, time.Hour
	clock := newFakeClock()
	var svcs []*Service
	for range 2 {
		svc, err := New(cfg, Deps{Store: openStore(t, url), Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		svcs = append(svcs, svc)
	}
	first := svcs[0].KeyID()
	if svcs[1].KeyID() != first {
		t.Fatalf("the two issuers sign with %s and %s", first, svcs[1].KeyID())
	}
	for turn := 1; turn <= 3; turn++ {
		clock.Advance(9 * time.Hour)
		var mu sync.Mutex
		var added []string
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				kid, err := svcs[i%2].rotateKeys(context.Background())
				if err != nil {
					t.Errorf("rotateKeys: %v", err)
				}
				if kid != "" {
					mu.Lock()
					added = append(added, kid)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(added) != 1 {
			t.Fatalf("turn %d: %d keys added (%v), want exactly 1", turn, len(added), added)
		}
		if n := len(pemFiles(t, cfg.KeysDir)); n != turn+1 {
			t.Fatalf("turn %d: %d key files, want %d", turn, n, turn+1)
		}
		for _, s := range svcs {
			if err := s.keys.rescan(); err != nil {
				t.Fatal(err)
			}
		}
		if a, b := string(svcs[0].JWKS()), string(svcs[1].JWKS()); a != b {
			t.Fatalf("turn %d: the issuers publish different JWKS:\n%s\n%s", turn, a, b)
		}
		clock.Advance(time.Hour)
		for i, s := range svcs {
			if s.KeyID() != added[0] {
				t.Fatalf("turn %d: issuer %d signs with %s, want the new %s", turn, i, s.KeyID(), added[0])
			}
		}
	}
}

// TestJWKSCacheControl: an HTTP cache in front of the issuer may keep the JWKS a
// quarter of the prepublish at most (60 s at most), so it never hides a
// prepublished key until it signs.
func TestJWKSCacheControl(t *testing.T) {
	for _, tc := range []struct {
		prepublish time.Duration
		want       string
	}{
		{0, "public, max-age=60"}, // the default, 1h
		{8 * time.Second, "public, max-age=2"},
		{time.Second, "public, max-age=0"},
	} {
		e := newEnv(t, newMemStore(), func(c *Config, _ *Deps) { c.KeyPrepublish = tc.prepublish })
		w := httptest.NewRecorder()
		e.svc.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
		if got := w.Header().Get("Cache-Control"); w.Code != http.StatusOK || got != tc.want {
			t.Errorf("prepublish %v: %d, Cache-Control %q, want %q", tc.prepublish, w.Code, got, tc.want)
		}
	}
}
