package issue

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func keySourceFor(t testing.TB, cfg Config, clock *fakeClock) *keySource {
	t.Helper()
	ks, err := newKeySource(cfg.withDefaults(), clock.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("newKeySource: %v", err)
	}
	return ks
}

type jwksDoc struct {
	Keys []map[string]any `json:"keys"`
}

func parseJWKS(t testing.TB, b []byte) jwksDoc {
	t.Helper()
	var d jwksDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("JWKS %s: %v", b, err)
	}
	if d.Keys == nil {
		t.Fatalf("JWKS %s has no keys array", b)
	}
	return d
}

func kids(d jwksDoc) []string {
	var out []string
	for _, k := range d.Keys {
		out = append(out, k["kid"].(string))
	}
	return out
}

func pemFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(m, func(p string) bool { return strings.HasPrefix(filepath.Base(p), ".") })
}

func TestKeyGeneratedOnFirstStart(t *testing.T) {
	tests := []struct {
		alg, kty, crv string
		private       []string // JWK members that would leak the private key
	}{
		{AlgES256, "EC", "P-256", []string{"d"}},
		{AlgEdDSA, "OKP", "Ed25519", []string{"d"}},
		{AlgRS256, "RSA", "", []string{"d", "p", "q", "dp", "dq", "qi"}},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.KeysDir = filepath.Join(t.TempDir(), "nested", "keys")
			cfg.Alg = tt.alg
			ks := keySourceFor(t, cfg, newFakeClock())
			files := pemFiles(t, cfg.KeysDir)
			if len(files) != 1 {
				t.Fatalf("%d key files, want 1", len(files))
			}
			fi, err := os.Stat(files[0])
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
			}
			di, _ := os.Stat(cfg.KeysDir)
			if di.Mode().Perm() != 0o700 {
				t.Errorf("keys dir mode %04o, want 0700", di.Mode().Perm())
			}
			data, _ := os.ReadFile(files[0])
			block, _ := pem.Decode(data)
			if block == nil || block.Type != "PRIVATE KEY" {
				t.Fatalf("not a PKCS#8 PEM file:\n%s", data)
			}
			if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
				t.Fatal(err)
			}
			kid := strings.TrimSuffix(filepath.Base(files[0]), ".pem")
			if ks.current().signer.kid != kid {
				t.Errorf("signer %s, file %s", ks.current().signer.kid, kid)
			}
			if created, ok := kidTime(kid); !ok || !created.Equal(t0) {
				t.Errorf("kid %s records %v, %v; want %v", kid, created, ok, t0)
			}
			d := parseJWKS(t, ks.current().jwks)
			if len(d.Keys) != 1 {
				t.Fatalf("JWKS has %d keys", len(d.Keys))
			}
			k := d.Keys[0]
			if k["kid"] != kid || k["alg"] != tt.alg || k["use"] != "sig" || k["kty"] != tt.kty {
				t.Errorf("JWK %v", k)
			}
			if tt.crv != "" && k["crv"] != tt.crv {
				t.Errorf("crv %v, want %s", k["crv"], tt.crv)
			}
			for _, m := range tt.private {
				if _, ok := k[m]; ok {
					t.Errorf("JWKS publishes private member %q", m)
				}
			}
			// A second start loads the same key rather than making another.
			ks2 := keySourceFor(t, cfg, newFakeClock())
			if ks2.current().signer.kid != kid || len(pemFiles(t, cfg.KeysDir)) != 1 {
				t.Error("restart did not reuse the key")
			}
		})
	}
}

func TestKeyFilePermissionsRefused(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		t.Run(mode.String(), func(t *testing.T) {
			cfg := testConfig(t)
			keySourceFor(t, cfg, newFakeClock())
			f := pemFiles(t, cfg.KeysDir)[0]
			if err := os.Chmod(f, mode); err != nil {
				t.Fatal(err)
			}
			_, err := newKeySource(cfg.withDefaults(), newFakeClock().Now, slog.New(slog.DiscardHandler))
			if !errors.Is(err, ErrKeyPermissions) || !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), f) {
				t.Fatalf("err %v, want ErrKeyPermissions naming the file and the fix", err)
			}
		})
	}
}

// TestKeyFilePermissionsOnRescan: a running issuer keeps its keys when a bad file
// appears, and says why.
func TestKeyFilePermissionsOnRescan(t *testing.T) {
	cfg := testConfig(t)
	clock := newFakeClock()
	ks := keySourceFor(t, cfg, clock)
	signer := ks.current().signer.kid
	kid, err := generateKey(cfg.KeysDir, AlgES256, clock.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(cfg.KeysDir, kid+".pem"), 0o644)
	if err := ks.rescan(); !errors.Is(err, ErrKeyPermissions) {
		t.Fatalf("rescan: %v, want ErrKeyPermissions", err)
	}
	if ks.current().signer.kid != signer {
		t.Fatal("the keyring changed after a failed rescan")
	}
	os.Chmod(filepath.Join(cfg.KeysDir, kid+".pem"), 0o600)
	clock.Advance(time.Minute + cfg.KeyPrepublish)
	if err := ks.rescan(); err != nil || ks.current().signer.kid != kid {
		t.Fatalf("after chmod 600: %v, signer %s, want %s", err, ks.current().signer.kid, kid)
	}
}

// TestKeyRotation: a new key is published at once and signs KeyPrepublish after its
// creation (the switch comes from the clock, not from a rescan); the old key leaves
// the JWKS AccessTTL + KeyRescan + Leeway after it stopped signing.
func TestKeyRotation(t *testing.T) {
	cfg := testConfig(t)
	clock := newFakeClock()
	ks := keySourceFor(t, cfg, clock)
	first := ks.current().signer.kid

	clock.Advance(time.Hour)
	second, err := generateKey(cfg.KeysDir, AlgES256, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.rescan(); err != nil {
		t.Fatal(err)
	}
	if got := ks.current().signer.kid; got != first {
		t.Fatalf("signer %s right after the rotation, want the old %s until the new key is prepublished", got, first)
	}
	if got := kids(parseJWKS(t, ks.current().jwks)); !slices.Equal(got, []string{first, second}) {
		t.Fatalf("JWKS kids %v, want both (the new one prepublished)", got)
	}
	clock.Advance(cfg.KeyPrepublish - time.Nanosecond)
	if got := ks.current().signer.kid; got != first {
		t.Fatalf("signer %s 1ns before the prepublish ends, want %s", got, first)
	}
	clock.Advance(time.Nanosecond)
	if got := ks.current().signer.kid; got != second {
		t.Fatalf("signer %s once the prepublish ended (no rescan), want the newest %s", got, second)
	}
	// The old key stays published while a token it signed can be live: AccessTTL
	// (15m) + rescan (30s) + leeway (30s) after its successor started signing.
	clock.Advance(15*time.Minute + 59*time.Second)
	if got := kids(parseJWKS(t, ks.current().jwks)); len(got) != 2 {
		t.Fatalf("JWKS kids %v just before the window ends, want both", got)
	}
	clock.Advance(time.Second)
	if got := kids(parseJWKS(t, ks.current().jwks)); !slices.Equal(got, []string{second}) {
		t.Fatalf("JWKS kids %v after the window, want only %s", got, second)
	}
	// It still verifies our own old tokens (logout accepts expired ones).
	if _, ok := ks.current().verify.LookupKeyID(first); !ok {
		t.Error("retired key dropped from the verification set")
	}
	// A restart agrees.
	ks2 := keySourceFor(t, cfg, clock)
	if ks2.current().signer.kid != second || !slices.Equal(kids(parseJWKS(t, ks2.current().jwks)), []string{second}) {
		t.Error("restart disagrees about signer or JWKS")
	}
}

func TestRotateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	var made []string
	for _, alg := range []string{AlgES256, AlgEdDSA, AlgRS256} {
		kid, err := RotateKey(dir, alg)
		if err != nil {
			t.Fatalf("RotateKey(%s): %v", alg, err)
		}
		made = append(made, kid)
		fi, err := os.Stat(filepath.Join(dir, kid+".pem"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s.pem: %v, mode %v", kid, err, fi)
		}
	}
	if !slices.IsSorted(made) {
		t.Errorf("kids %v are not time-sortable", made)
	}
	if _, err := RotateKey(dir, AlgHS256); err == nil {
		t.Error("RotateKey accepted HS256")
	}
	if _, err := RotateKey(dir, "none"); err == nil {
		t.Error("RotateKey accepted alg none")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// TestAlgChange: switching --alg makes a key of the new algorithm that signs; the old
// key stays in the JWKS for the window.
func TestAlgChange(t *testing.T) {
	cfg := testConfig(t)
	clock := newFakeClock()
	old := keySourceFor(t, cfg, clock).current().signer.kid
	clock.Advance(time.Minute)
	cfg.Alg = AlgEdDSA
	ks := keySourceFor(t, cfg, clock)
	r := ks.current()
	if r.signer.kid == old || string(r.signer.alg) != AlgEdDSA {
		t.Fatalf("signer %s (%s), want a new EdDSA key", r.signer.kid, r.signer.alg)
	}
	if got := kids(parseJWKS(t, r.jwks)); !slices.Equal(got, []string{old, r.signer.kid}) {
		t.Errorf("JWKS %v", got)
	}
	// Back to ES256 with the EdDSA key newest: a new ES256 key is made and
	// prepublished; the old ES256 key signs meanwhile.
	clock.Advance(time.Minute)
	cfg.Alg = AlgES256
	ks = keySourceFor(t, cfg, clock)
	if k := ks.current().signer; k.kid != old {
		t.Errorf("signer %s (%s), want the old ES256 key %s while the new one is prepublished", k.kid, k.alg, old)
	}
	clock.Advance(cfg.KeyPrepublish)
	if k := ks.current().signer; k.kid == old || string(k.alg) != AlgES256 {
		t.Errorf("signer %s (%s), want a fresh ES256 key", k.kid, k.alg)
	}
}

func TestBadKeyFiles(t *testing.T) {
	rsaSmall, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	ecSEC1, _ := x509.MarshalECPrivateKey(p384)
	tests := []struct {
		name, file string
		data       []byte
		want       error
	}{
		{"garbage", "k1.pem", []byte("not a key"), ErrBadKey},
		{"SEC1 instead of PKCS#8", "k2.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecSEC1}), ErrBadKey},
		{"RSA 1024", "k3.pem", pkcs8(rsaSmall), ErrBadKey},
		{"P-384", "k4.pem", pkcs8(p384), ErrBadKey},
		{"bad kid", "my key.pem", pkcs8(p384), ErrBadKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			if err := os.WriteFile(filepath.Join(cfg.KeysDir, tt.file), tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := newKeySource(cfg.withDefaults(), newFakeClock().Now, slog.New(slog.DiscardHandler))
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.file) {
				t.Fatalf("err %v, want %v naming %s", err, tt.want, tt.file)
			}
		})
	}
}

// TestForeignKeyFiles: keys an operator made with openssl (any name, mtime as the
// creation time) load; files that are not *.pem or start with "." are ignored.
func TestForeignKeyFiles(t *testing.T) {
	cfg := testConfig(t)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	path := filepath.Join(cfg.KeysDir, "prod-2026.pem")
	os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(cfg.KeysDir, "README"), []byte("keys"), 0o644)
	os.WriteFile(filepath.Join(cfg.KeysDir, ".tmp-123.pem"), []byte("half a key"), 0o644)
	clock := newFakeClock()
	os.Chtimes(path, clock.Now(), clock.Now())
	ks := keySourceFor(t, cfg, clock)
	if got := ks.current().signer.kid; got != "prod-2026" {
		t.Fatalf("signer %s, want prod-2026", got)
	}
	if n := len(pemFiles(t, cfg.KeysDir)); n != 1 {
		t.Errorf("%d key files; a key was generated although one existed", n)
	}
}

func TestHS256Keys(t *testing.T) {
	cfg := testConfig(t)
	cfg.Alg = AlgHS256
	cfg.Secret = Secret(strings.Repeat("s", 32))
	ks := keySourceFor(t, cfg, newFakeClock())
	if got := string(ks.current().jwks); got != `{"keys":[]}` {
		t.Errorf("HS256 JWKS %s, want an empty set", got)
	}
	kid := ks.current().signer.kid
	if !strings.HasPrefix(kid, "hs256-") || strings.Contains(kid, "ssss") {
		t.Errorf("kid %q", kid)
	}
	if again := keySourceFor(t, cfg, newFakeClock()).current().signer.kid; again != kid {
		t.Errorf("kid not stable: %s then %s", kid, again)
	}
	cfg.Secret = Secret(strings.Repeat("t", 32))
	if other := keySourceFor(t, cfg, newFakeClock()).current().signer.kid; other == kid {
		t.Error("a different secret has the same kid")
	}
	if files := pemFiles(t, cfg.KeysDir); len(files) != 0 {
		t.Errorf("HS256 wrote key files %v", files)
	}
}

func TestKIDTime(t *testing.T) {
	a := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	b := a.Add(time.Nanosecond)
	ka, kb := newKID(a), newKID(b)
	if ka >= kb {
		t.Errorf("kids not ordered by time: %s, %s", ka, kb)
	}
	if got, ok := kidTime(ka); !ok || !got.Equal(a) {
		t.Errorf("kidTime(%s) = %v, %v", ka, got, ok)
	}
	for _, bad := range []string{"", "prod", "20260102T030405000000006Q-ab", "2026010XT030405000000006Z-ab"} {
		if _, ok := kidTime(bad); ok {
			t.Errorf("kidTime(%q) ok", bad)
		}
	}
	if !validKID(ka) || validKID("a/b") || validKID("") || validKID(strings.Repeat("a", 129)) {
		t.Error("validKID")
	}
}

// vexen_issuer_signing_key_age_seconds follows the signer: it grows with the
// clock and drops when a rotated key takes over (the rotation alert relies on it).
func TestSigningKeyAgeMetric(t *testing.T) {
	e := newEnv(t, newMemStore(), nil)
	age := func() float64 {
		t.Helper()
		mfs, err := e.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "vexen_issuer_signing_key_age_seconds" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("vexen_issuer_signing_key_age_seconds not registered")
		return 0
	}
	if a := age(); a < 0 || a > 1 {
		t.Fatalf("age of a key made at start = %v, want ~0", a)
	}
	e.clock.Advance(3 * time.Hour)
	if a := age(); a < 3*3600-1 || a > 3*3600+1 {
		t.Fatalf("age after 3h = %v, want ~10800", a)
	}
	if _, err := generateKey(e.svc.cfg.KeysDir, e.svc.cfg.Alg, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.keys.rescan(); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(e.svc.cfg.KeyPrepublish)
	if p := e.svc.cfg.KeyPrepublish.Seconds(); age() != p {
		t.Fatalf("age once the new key signs = %v, want %v (its prepublish)", age(), p)
	}
}

// TestKeyRotationSharedDirectory is a regression test for a defect the chaos
// harness found (chaos/, fault key-rotation): two issuers share a keys directory;
// after `issuer keys rotate` the first one to rescan signs with the new key, and
// until its own periodic rescan (30s) the other refused those tokens (a live
// session's logout or logout-all answered 401) and left the key out of its JWKS
// (a verifier fetching from it refused the live session with 401). Now a token
// with a key it does not know, and a JWKS request, make it read the directory
// (at most every 100ms).
func TestKeyRotationSharedDirectory(t *testing.T) {
	dir := t.TempDir()
	st := newMemStore()
	shared := func(c *Config, _ *Deps) { c.KeysDir = dir }
	a := newEnv(t, st, shared)
	b := newEnv(t, st, shared)
	a.addUser("ada@example.com", "correct horse battery")

	a.clock.Advance(time.Minute)
	b.clock.Advance(time.Minute)
	kid, err := generateKey(dir, AlgES256, a.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.svc.keys.rescan(); err != nil {
		t.Fatal(err)
	}
	if b.svc.KeyID() == kid {
		t.Fatal("the second issuer read the new key before the test asked it")
	}
	p := a.login("ada@example.com", "correct horse battery")
	if _, err := b.svc.VerifyAccessToken(p.AccessToken, false); err != nil {
		t.Fatalf("the other issuer refused a token signed with the new key: %v", err)
	}
	if got := kids(parseJWKS(t, b.svc.JWKS())); !slices.Contains(got, kid) {
		t.Fatalf("the other issuer's JWKS %v lacks the new key %s", got, kid)
	}
	// A forged token does not make it read the directory more than every 100ms.
	before := b.svc.keys.scanned
	b.svc.VerifyAccessToken(tamperSig(p.AccessToken), false)
	if b.svc.keys.scanned != before {
		t.Error("rescanned again within 100ms")
	}
}

func tamperSig(token string) string {
	if token[len(token)-2] == 'A' {
		return token[:len(token)-2] + "B" + token[len(token)-1:]
	}
	return token[:len(token)-2] + "A" + token[len(token)-1:]
}
