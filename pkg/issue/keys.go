package issue

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/vexen/vexen-auth/pkg/store"
)

// Key errors.
var (
	// ErrKeyPermissions: a key file can be read by group or others. Fix: chmod 600.
	ErrKeyPermissions = errors.New("issue: key file is readable by group or others")
	// ErrBadKey: a key file is not a PKCS#8 PEM private key of a supported kind.
	ErrBadKey = errors.New("issue: unusable signing key")
	// ErrNoKey: no key of the configured algorithm could be found or made.
	ErrNoKey = errors.New("issue: no signing key")
)

// MinRSABits is the smallest RSA key accepted; RotateKey makes keys of this size.
const MinRSABits = 2048

const maxKeyFile = 64 << 10 // no PEM key is larger

// signingKey is one key of the ring.
type signingKey struct {
	kid     string
	alg     jwa.SignatureAlgorithm
	created time.Time
	private any     // *ecdsa.PrivateKey, ed25519.PrivateKey, *rsa.PrivateKey, or []byte for HS256
	verify  jwk.Key // the verification key (public, or the secret for HS256) with kid and alg
	public  jwk.Key // the JWKS entry (kid, alg, use=sig); nil for HS256
}

// sign returns the compact JWS of payload with header {alg, kid, typ: at+jwt}.
func (k *signingKey) sign(payload []byte) ([]byte, error) {
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, k.kid); err != nil {
		return nil, err
	}
	if err := hdr.Set(jws.TypeKey, "at+jwt"); err != nil {
		return nil, err
	}
	return jws.Sign(payload, jws.WithKey(k.alg, k.private, jws.WithProtectedHeaders(hdr)))
}

// keyring is an immutable snapshot of the keys: the one that signs, every key that can
// verify one of our tokens, and the rendered JWKS.
type keyring struct {
	signer *signingKey
	keys   []*signingKey // oldest first
	verify jwk.Set
	jwks   []byte    // {"keys":[…]}: the public keys that can still have a live token
	until  time.Time // when the clock alone changes the ring (a key starts signing or retires); zero: never
}

// keySource owns the key directory and the current keyring.
type keySource struct {
	dir    string
	alg    jwa.SignatureAlgorithm
	window time.Duration // how long a key stays published after it stopped signing
	// prepublish is how long a key is published before it signs; rotation how often
	// a scheduled key is added (0: never).
	prepublish, rotation time.Duration
	now                  func() time.Time
	log                  *slog.Logger

	rotateMu processLock // rotateIfDue's lock without a store.Locker
	mu       sync.Mutex  // serializes scans
	stamp    string      // the directory listing the current ring was built from
	scanned  time.Time   // when the directory was last read (ks.now)
	keys     []*signingKey
	ring     atomic.Pointer[keyring]
}

// newKeySource loads the keys (HS256: wraps the secret) and, on the first start or
// after a change of algorithm, generates a key of the configured algorithm.
func newKeySource(cfg Config, now func() time.Time, log *slog.Logger) (*keySource, error) {
	ks := &keySource{
		dir:    cfg.KeysDir,
		alg:    jwa.SignatureAlgorithm(cfg.Alg),
		window: cfg.AccessTTL + cfg.KeyRescan + cfg.Leeway,
		now:    now,
		log:    log,

		prepublish: cfg.KeyPrepublish,
		rotation:   cfg.KeyRotation,
	}
	if cfg.Alg == AlgHS256 {
		k, err := hmacKey([]byte(cfg.Secret))
		if err != nil {
			return nil, err
		}
		ks.keys = []*signingKey{k}
		ring, err := ks.build(ks.keys)
		if err != nil {
			return nil, err
		}
		ks.ring.Store(ring)
		return ks, nil
	}
	if err := os.MkdirAll(ks.dir, 0o700); err != nil {
		return nil, fmt.Errorf("issue: keys directory: %w", err)
	}
	if err := ks.rescan(); err != nil && !errors.Is(err, ErrNoKey) {
		return nil, err
	}
	if n := len(ks.keys); n == 0 || ks.keys[n-1].alg != ks.alg {
		kid, err := generateKey(ks.dir, cfg.Alg, now())
		if err != nil {
			return nil, err
		}
		log.Info("generated a signing key", "kid", kid, "alg", cfg.Alg, "dir", ks.dir)
		if err := ks.rescan(); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

// signerAge is the age in seconds of the key that signs now (from its KID's
// timestamp, else its file's modification time); 0 for the HS256 secret, which
// has no creation time. It feeds vexen_issuer_signing_key_age_seconds.
func (ks *keySource) signerAge() float64 {
	k := ks.current().signer
	if k.created.IsZero() {
		return 0
	}
	return ks.now().Sub(k.created).Seconds()
}

// current returns the keyring in use, rebuilt first when the clock has passed the
// moment a prepublished key starts signing or a retired one leaves the JWKS: every
// replica switches signers at the same instant, not at its next rescan.
func (ks *keySource) current() *keyring {
	r := ks.ring.Load()
	if r.until.IsZero() || ks.now().Before(r.until) {
		return r
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if r = ks.ring.Load(); !r.until.IsZero() && !ks.now().Before(r.until) {
		if nr, err := ks.build(ks.keys); err == nil {
			ks.ring.Store(nr)
			r = nr
		}
	}
	return r
}

// rescan re-reads the directory when its listing changed and rebuilds the ring (the
// JWKS window moves with the clock, so the ring is rebuilt every time). On error the
// ring in use stays.
func (ks *keySource) rescan() error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.scanned = ks.now()
	if ks.dir == "" || ks.alg == jwa.HS256 {
		ring, err := ks.build(ks.keys)
		if err == nil {
			ks.ring.Store(ring)
		}
		return err
	}
	stamp, files, err := listKeys(ks.dir)
	if err != nil {
		return err
	}
	keys := ks.keys
	if stamp != ks.stamp {
		keys = make([]*signingKey, 0, len(files))
		for _, f := range files {
			k, err := loadKey(filepath.Join(ks.dir, f))
			if err != nil {
				return err
			}
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b *signingKey) int {
			if c := a.created.Compare(b.created); c != 0 {
				return c
			}
			return strings.Compare(a.kid, b.kid)
		})
	}
	ring, err := ks.build(keys)
	if err != nil {
		return err
	}
	if stamp != ks.stamp && ks.stamp != "" {
		ks.log.Info("signing keys reloaded", "signer", ring.signer.kid, "keys", len(keys))
	}
	ks.keys, ks.stamp = keys, stamp
	ks.ring.Store(ring)
	return nil
}

// rescanOnDemand is a rescan between the periodic ones, for a caller that may be
// behind another process sharing the directory (another issuer ran `issuer keys
// rotate`'s key first and signs with it): at most one every minGap. It reports
// whether the directory listing changed.
func (ks *keySource) rescanOnDemand() bool {
	ks.mu.Lock()
	due, stamp := ks.now().Sub(ks.scanned) >= minGap, ks.stamp
	ks.mu.Unlock()
	if !due || ks.dir == "" || ks.alg == jwa.HS256 {
		return false
	}
	if err := ks.rescan(); err != nil {
		return false // the periodic rescan logs it
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.stamp != stamp
}

// minGap is the least time between two on-demand rescans of the key directory.
const minGap = 100 * time.Millisecond

// build makes a ring from keys sorted oldest first. The signer is the newest key of
// the configured algorithm that has been published for prepublish (created that long
// ago); when none has, the oldest of that algorithm (the first key of an algorithm
// signs at once: no verifier can hold a token of it). Every key newer than the signer
// is published (prepublished); an older one stays published until window after its
// successor started signing.
func (ks *keySource) build(keys []*signingKey) (*keyring, error) {
	r := &keyring{keys: keys, verify: jwk.NewSet()}
	now := ks.now()
	until := func(t time.Time) {
		if t.After(now) && (r.until.IsZero() || t.Before(r.until)) {
			r.until = t
		}
	}
	signer, first := -1, -1
	for i, k := range keys {
		if k.alg != ks.alg {
			continue
		}
		if first < 0 {
			first = i
		}
		active := k.created.Add(ks.prepublish)
		if !now.Before(active) {
			signer = i
		}
		until(active)
	}
	if signer < 0 {
		signer = first
	}
	if signer < 0 {
		return nil, fmt.Errorf("%w: no %s key in %s", ErrNoKey, ks.alg, ks.dir)
	}
	r.signer = keys[signer]
	pub := jwk.NewSet()
	for i, k := range keys {
		if err := r.verify.AddKey(k.verify); err != nil {
			return nil, err
		}
		if k.public == nil {
			continue
		}
		if i < signer {
			retire := keys[i+1].created.Add(ks.prepublish).Add(ks.window)
			if !now.Before(retire) {
				continue
			}
			until(retire)
		}
		if err := pub.AddKey(k.public); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(pub)
	if err != nil {
		return nil, err
	}
	r.jwks = b
	return r, nil
}

// rotationDue is when the next scheduled key is to be added: prepublish before the
// newest key of the configured algorithm has signed for rotation. A prepublished key
// signs from its creation + prepublish, so the next is due at its creation +
// rotation; the first key of an algorithm signs from its creation, so the next is
// due at its creation + rotation - prepublish. A key added by `issuer keys rotate`
// counts like a scheduled one: a manual rotation postpones the schedule. Zero when
// rotation is manual.
func (ks *keySource) rotationDue() time.Time {
	if ks.rotation == 0 || ks.alg == jwa.HS256 {
		return time.Time{}
	}
	keys := ks.current().keys
	newest, n := -1, 0
	for i, k := range keys {
		if k.alg == ks.alg {
			newest, n = i, n+1
		}
	}
	switch {
	case newest < 0:
		return time.Time{}
	case n == 1:
		return keys[newest].created.Add(ks.rotation - ks.prepublish)
	default:
		return keys[newest].created.Add(ks.rotation)
	}
}

// rotateIfDue adds the scheduled key when it is due. Replicas sharing the directory
// call it at about the same time: under lock (the store's, across processes; nil:
// this process only), it reads the directory again and adds the key only when no
// other replica did. It returns the new kid, or "" when nothing was due.
func (ks *keySource) rotateIfDue(ctx context.Context, lock store.Locker) (string, error) {
	if due := ks.rotationDue(); due.IsZero() || ks.now().Before(due) {
		return "", nil
	}
	if lock == nil {
		lock = &ks.rotateMu
	}
	var kid string
	err := lock.WithLock(ctx, "signing-key-rotation", func(context.Context) error {
		if err := ks.rescan(); err != nil {
			return err
		}
		if due := ks.rotationDue(); due.IsZero() || ks.now().Before(due) {
			return nil // another replica added it
		}
		var err error
		if kid, err = generateKey(ks.dir, string(ks.alg), ks.now()); err != nil {
			return err
		}
		return ks.rescan()
	})
	return kid, err
}

// processLock is a store.Locker for one process (a store without one).
type processLock struct{ mu sync.Mutex }

func (l *processLock) WithLock(ctx context.Context, _ string, fn func(context.Context) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fn(ctx)
}

// listKeys returns the KID.pem names in dir, sorted, and a stamp of the listing (names,
// sizes, modification times) that changes when any of them does. Names starting with
// "." are skipped: RotateKey writes its temporary files so, and Kubernetes secret
// volumes keep their bookkeeping so.
func listKeys(dir string) (stamp string, names []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, fmt.Errorf("issue: keys directory: %w", err)
	}
	var b strings.Builder
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".pem") {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return "", nil, fmt.Errorf("issue: key file: %w", err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		names = append(names, name)
		fmt.Fprintf(&b, "%s|%d|%d|%o\n", name, fi.Size(), fi.ModTime().UnixNano(), fi.Mode().Perm())
	}
	return b.String(), names, nil
}

// loadKey reads one KID.pem file, refusing one that group or others can read.
func loadKey(path string) (*signingKey, error) {
	kid := strings.TrimSuffix(filepath.Base(path), ".pem")
	if !validKID(kid) {
		return nil, fmt.Errorf("%w: %s: the file name must be KID.pem with a KID of letters, digits, '.', '_' or '-'", ErrBadKey, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("issue: key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("issue: key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; run chmod 600 %s", ErrKeyPermissions, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("issue: key file: %w", err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrBadKey, path, maxKeyFile)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s is not a PEM \"PRIVATE KEY\" (PKCS#8) block", ErrBadKey, path)
	}
	raw, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKey, path, err)
	}
	created, ok := kidTime(kid)
	if !ok {
		created = fi.ModTime()
	}
	k, err := asymmetricKey(kid, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKey, path, err)
	}
	k.created = created
	return k, nil
}

// asymmetricKey wraps a parsed private key, deciding its algorithm from its kind.
func asymmetricKey(kid string, raw any) (*signingKey, error) {
	k := &signingKey{kid: kid, private: raw}
	var pub any
	switch p := raw.(type) {
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA curve %s: only P-256 (ES256) is supported", p.Curve.Params().Name)
		}
		k.alg, pub = jwa.ES256, &p.PublicKey
	case ed25519.PrivateKey:
		k.alg, pub = jwa.EdDSA, p.Public()
	case *rsa.PrivateKey:
		if p.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("RSA key of %d bits: at least %d required", p.N.BitLen(), MinRSABits)
		}
		k.alg, pub = jwa.RS256, &p.PublicKey
	default:
		return nil, fmt.Errorf("key type %T is not supported (want ECDSA P-256, Ed25519 or RSA)", raw)
	}
	jk, err := jwk.FromRaw(pub)
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: k.alg, jwk.KeyUsageKey: "sig"} {
		if err := jk.Set(name, v); err != nil {
			return nil, err
		}
	}
	k.public, k.verify = jk, jk
	return k, nil
}

// hmacKey wraps the HS256 secret. Its kid is a domain-separated fingerprint of the
// secret: stable across restarts and replicas, different for a different secret.
func hmacKey(secret []byte) (*signingKey, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: HS256 secret of %d bytes; at least %d required", ErrBadKey, len(secret), MinSecretLen)
	}
	sum := sha256.Sum256(append([]byte("vexen-auth hs256 kid\x00"), secret...))
	kid := "hs256-" + hex.EncodeToString(sum[:8])
	jk, err := jwk.FromRaw(secret)
	if err != nil {
		return nil, err
	}
	if err := jk.Set(jwk.KeyIDKey, kid); err != nil {
		return nil, err
	}
	if err := jk.Set(jwk.AlgorithmKey, jwa.HS256); err != nil {
		return nil, err
	}
	return &signingKey{kid: kid, alg: jwa.HS256, private: secret, verify: jk}, nil
}

func validKID(kid string) bool {
	if kid == "" || len(kid) > 128 {
		return false
	}
	for _, c := range []byte(kid) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// newKID is a time-sortable key id: UTC YYYYMMDDTHHMMSS, nanoseconds, "Z-", 8 random
// hex digits. Sorting kids as strings sorts keys by creation time.
func newKID(now time.Time) string {
	now = now.UTC()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return fmt.Sprintf("%s%09dZ-%s", now.Format("20060102T150405"), now.Nanosecond(), hex.EncodeToString(rnd[:]))
}

// kidTime recovers the creation time from a kid made by newKID.
func kidTime(kid string) (time.Time, bool) {
	if len(kid) < 25 || kid[24] != 'Z' {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T150405", kid[:15])
	if err != nil {
		return time.Time{}, false
	}
	ns, err := strconv.Atoi(kid[15:24])
	if err != nil || ns < 0 {
		return time.Time{}, false
	}
	return t.Add(time.Duration(ns)), true
}

// RotateKey adds a new signing key of algorithm alg (ES256, EdDSA or RS256) to dir,
// creating dir (mode 0700) when needed, and returns its kid. The file is KID.pem, a
// PKCS#8 PEM private key of mode 0600, written under a temporary name and renamed, so
// a running issuer never reads half a key. A running issuer publishes the new key at
// its next rescan of dir (Config.KeyRescan) and signs with it Config.KeyPrepublish
// after its creation; older keys stay in the JWKS while a token they signed can
// still be live. Keys are never deleted.
func RotateKey(dir, alg string) (kid string, err error) {
	if alg == AlgHS256 {
		return "", fmt.Errorf("%w: HS256 uses JWT_SECRET_KEY; rotate it by changing the secret", ErrNoKey)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("issue: keys directory: %w", err)
	}
	return generateKey(dir, alg, time.Now())
}

func generateKey(dir, alg string, now time.Time) (string, error) {
	var raw any
	var err error
	switch alg {
	case AlgES256:
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgEdDSA:
		_, raw, err = ed25519.GenerateKey(rand.Reader)
	case AlgRS256:
		raw, err = rsa.GenerateKey(rand.Reader, MinRSABits)
	default:
		return "", fmt.Errorf("%w: cannot generate a key for alg %q", ErrNoKey, alg)
	}
	if err != nil {
		return "", fmt.Errorf("issue: generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(raw)
	if err != nil {
		return "", fmt.Errorf("issue: encode %s key: %w", alg, err)
	}
	kid := newKID(now)
	if err := writeFileAtomic(dir, kid+".pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return "", err
	}
	return kid, nil
}

// writeFileAtomic writes data to dir/name with mode 0600 via a hidden temporary file,
// fsync and rename, then syncs the directory. It never replaces an existing file.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	final := filepath.Join(dir, name)
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("issue: key file %s already exists", final)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("issue: key file: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*.pem") // mode 0600
	if err != nil {
		return fmt.Errorf("issue: write key: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("issue: write key: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("issue: write key: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("issue: write key: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("issue: write key: %w", err)
	}
	if err = os.Rename(f.Name(), final); err != nil {
		return fmt.Errorf("issue: write key: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
