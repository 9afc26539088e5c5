package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"github.com/vexen/vexen-auth/internal/backoff"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Key fetching limits and intervals.
const (
	// refetchEvery is the least time between two JWKS fetches caused by an unknown
	// kid: a flood of tokens with made-up kids costs at most one fetch per interval.
	refetchEvery = 10 * time.Second
	// jwksMinRefresh is jwk.Cache's own background refresh interval (longer when
	// the JWKS response's Cache-Control max-age says so); run's schedule,
	// Config.JWKSRefresh, comes on top.
	jwksMinRefresh = 5 * time.Minute
	// jwksRefreshWindow is how often the background refresher looks for due work.
	jwksRefreshWindow = time.Minute
	// jwksFetchTimeout bounds one fetch, including the wait of callers.
	jwksFetchTimeout = 10 * time.Second
	// initialFetchTimeout bounds the fetch New makes.
	initialFetchTimeout = 5 * time.Second
	// maxJWKSBytes bounds a JWKS response body.
	maxJWKSBytes = 1 << 20
	// minRSABits is the smallest RSA modulus trusted.
	minRSABits = 2048
)

// keyring is one immutable generation of trusted keys, each ready to check a
// signature with its own algorithm. It is swapped as a whole (copy on write).
type keyring struct {
	keys   map[string]*sigKey // kid → key
	hmac   *sigKey            // the HS256 shared secret (any kid); nil with a JWKS
	loaded time.Time
}

// sigKey is one trusted key: the algorithm it is trusted for (the only one a
// token signed with it may name), its jws verifier and the raw public key (or
// the secret).
type sigKey struct {
	alg jwa.SignatureAlgorithm
	ver jws.Verifier
	raw any
}

func newSigKey(alg jwa.SignatureAlgorithm, raw any) (*sigKey, error) {
	ver, err := jws.NewVerifier(alg)
	if err != nil {
		return nil, err
	}
	return &sigKey{alg: alg, ver: ver, raw: raw}, nil
}

// lookup returns the key with this kid.
func (k *keyring) lookup(kid string) (*sigKey, bool) {
	if k.hmac != nil {
		return k.hmac, true
	}
	sk, ok := k.keys[kid]
	return sk, ok
}

func (v *Verifier) hmacKeyring() (*keyring, error) {
	sk, err := newSigKey(jwa.HS256, []byte(v.cfg.Secret))
	if err != nil {
		return nil, err
	}
	return &keyring{hmac: sk, loaded: v.now()}, nil
}

// keySource keeps the issuer's JWKS: a jwk.Cache refreshes it in the background
// (started by Run), every fetched set is filtered into a keyring, and an unknown kid
// may ask for one extra fetch per refetchEvery.
type keySource struct {
	v      *Verifier
	url    string
	client *http.Client
	ring   atomic.Pointer[keyring]
	cache  atomic.Pointer[jwk.Cache]
	runCtx atomic.Pointer[context.Context]

	mu          sync.Mutex
	lastRefetch time.Time
	inflight    chan struct{}
}

func (ks *keySource) current() *keyring { return ks.ring.Load() }

// start registers the JWKS URL with a jwk.Cache whose goroutines live as long as
// ctx, and tries a first fetch (bounded by initialFetchTimeout) so that a verifier
// whose issuer is up can decide as soon as it is built. A failure is only logged:
// run keeps trying.
func (ks *keySource) start(ctx context.Context) error {
	v := ks.v
	cache := jwk.NewCache(ctx,
		jwk.WithRefreshWindow(jwksRefreshWindow),
		jwk.WithErrSink(errSink(func(err error) {
			v.m.jwksFetches[1].Inc()
			v.log.LogAttrs(ctx, slog.LevelWarn, "JWKS refresh failed; keeping the keys loaded before",
				slog.String("url", ks.url), slog.Any("err", err))
		})))
	err := cache.Register(ks.url,
		jwk.WithHTTPClient(ks.client),
		jwk.WithFetchWhitelist(jwk.NewMapWhitelist().Add(ks.url)),
		jwk.WithMinRefreshInterval(jwksMinRefresh),
		jwk.WithPostFetcher(jwk.PostFetchFunc(ks.postFetch)))
	if err != nil {
		return fmt.Errorf("verify: JWKS %s: %w", ks.url, err)
	}
	ks.runCtx.Store(&ctx)
	ks.cache.Store(cache)
	// The cache's goroutines end with ctx; so do the client's idle connections.
	context.AfterFunc(ctx, ks.client.CloseIdleConnections)
	fctx, cancel := context.WithTimeout(ctx, initialFetchTimeout)
	defer cancel()
	if _, err := cache.Refresh(fctx, ks.url); err != nil {
		v.m.jwksFetches[1].Inc()
		v.log.LogAttrs(ctx, slog.LevelWarn, "JWKS not loaded yet; tokens cannot be verified (503) until it is",
			slog.String("url", ks.url), slog.Any("err", err))
	}
	return nil
}

// run loads the keys with backoff until the first success, then fetches them
// every Config.JWKSRefresh until ctx ends (a failed fetch keeps the keys loaded
// before).
func (ks *keySource) run(ctx context.Context) {
	v := ks.v
	cache := ks.cache.Load()
	if cache == nil {
		return
	}
	bo := backoff.Backoff{Min: 250 * time.Millisecond, Max: 30 * time.Second}
	for ks.current() == nil {
		if !sleep(ctx, bo.Next()) {
			return
		}
		fctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
		_, err := cache.Refresh(fctx, ks.url)
		cancel()
		if err == nil || ctx.Err() != nil {
			continue
		}
		v.m.jwksFetches[1].Inc()
		v.log.LogAttrs(ctx, slog.LevelWarn, "JWKS not loaded yet; tokens cannot be verified (503) until it is",
			slog.String("url", ks.url), slog.Any("err", err))
	}
	for sleep(ctx, v.cfg.JWKSRefresh) {
		fctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
		_, err := cache.Refresh(fctx, ks.url)
		cancel()
		if err != nil && ctx.Err() == nil {
			v.m.jwksFetches[1].Inc()
			v.log.LogAttrs(ctx, slog.LevelWarn, "JWKS refresh failed; keeping the keys loaded before",
				slog.String("url", ks.url), slog.Any("err", err))
		}
	}
}

type errSink func(error)

func (f errSink) Error(err error) { f(err) }

// postFetch turns a fetched set into a keyring and installs it. A set without a
// single usable key is an error: the cache then keeps the previous one.
func (ks *keySource) postFetch(_ string, set jwk.Set) (jwk.Set, error) {
	clean, algs, skipped := filterKeys(set)
	keys := make(map[string]*sigKey, len(algs))
	for i := range clean.Len() {
		k, _ := clean.Key(i)
		kid := k.KeyID()
		raw, err := jwk.PublicRawKeyOf(k)
		if err == nil {
			keys[kid], err = newSigKey(algs[kid], raw)
		}
		if err != nil {
			delete(keys, kid)
			skipped = append(skipped, fmt.Sprintf("kid %q: %v", kid, err))
		}
	}
	for _, s := range skipped {
		ks.v.log.LogAttrs(context.Background(), slog.LevelWarn, "JWKS: key not trusted", slog.String("reason", s))
	}
	if len(keys) == 0 {
		return nil, ErrNoUsableKeys
	}
	ks.ring.Store(&keyring{keys: keys, loaded: ks.v.now()})
	ks.v.m.jwksFetches[0].Inc()
	ks.v.m.keys.Set(float64(len(keys)))
	return clean, nil
}

// filterKeys keeps the signature keys of a JWKS that this verifier trusts: each
// with a kid, as a fresh public key carrying only kid, alg and use, with alg set
// to the key's own algorithm (declared, or the only one its type allows). Secret
// (oct) keys never come from a JWKS; RSA keys under 2048 bits, unknown curves,
// keys for encryption and duplicate kids are left out, with the reason.
func filterKeys(set jwk.Set) (jwk.Set, map[string]jwa.SignatureAlgorithm, []string) {
	clean := jwk.NewSet()
	algs := map[string]jwa.SignatureAlgorithm{}
	seen := map[string]bool{}
	var skipped []string
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid := k.KeyID()
		if kid == "" {
			skipped = append(skipped, "a key without kid")
			continue
		}
		if use := k.KeyUsage(); use != "" && use != jwk.ForSignature.String() {
			skipped = append(skipped, fmt.Sprintf("kid %q: use %q", kid, use))
			continue
		}
		if k.KeyType() == jwa.OctetSeq {
			skipped = append(skipped, fmt.Sprintf("kid %q: a secret (oct) key in a public key set", kid))
			continue
		}
		if seen[kid] {
			skipped = append(skipped, fmt.Sprintf("kid %q: appears more than once (every copy dropped)", kid))
			delete(algs, kid)
			continue
		}
		seen[kid] = true
		raw, err := jwk.PublicRawKeyOf(k)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("kid %q: %v", kid, err))
			continue
		}
		alg, err := keyAlgorithm(raw, k.Algorithm().String())
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("kid %q: %v", kid, err))
			continue
		}
		pub, err := jwk.FromRaw(raw)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("kid %q: %v", kid, err))
			continue
		}
		_ = pub.Set(jwk.KeyIDKey, kid)
		_ = pub.Set(jwk.AlgorithmKey, alg)
		_ = pub.Set(jwk.KeyUsageKey, jwk.ForSignature)
		algs[kid] = alg
		_ = clean.AddKey(pub)
	}
	// Drop every copy of a duplicated kid.
	if clean.Len() != len(algs) {
		rebuilt := jwk.NewSet()
		for i := range clean.Len() {
			k, _ := clean.Key(i)
			if _, ok := algs[k.KeyID()]; ok {
				_ = rebuilt.AddKey(k)
			}
		}
		clean = rebuilt
	}
	return clean, algs, skipped
}

// keyAlgorithm returns the signature algorithm a public key is trusted for: the
// declared one when it fits the key, else the one its type and curve imply.
func keyAlgorithm(raw any, declared string) (jwa.SignatureAlgorithm, error) {
	var allowed []jwa.SignatureAlgorithm
	switch k := raw.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			allowed = []jwa.SignatureAlgorithm{jwa.ES256}
		case elliptic.P384():
			allowed = []jwa.SignatureAlgorithm{jwa.ES384}
		case elliptic.P521():
			allowed = []jwa.SignatureAlgorithm{jwa.ES512}
		default:
			return "", errors.New("unsupported elliptic curve")
		}
	case ed25519.PublicKey:
		allowed = []jwa.SignatureAlgorithm{jwa.EdDSA}
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits (need %d)", k.N.BitLen(), minRSABits)
		}
		allowed = []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512}
	default:
		return "", fmt.Errorf("unsupported key type %T", raw)
	}
	if declared == "" {
		return allowed[0], nil
	}
	for _, a := range allowed {
		if a.String() == declared {
			return a, nil
		}
	}
	return "", fmt.Errorf("declared alg %q does not fit the key", declared)
}

// refetch is called for a kid the keyring does not know. It fetches the JWKS again
// unless that was done less than refetchEvery ago, and waits (within ctx) for a
// fetch in flight, so a token signed by a key the issuer just added is accepted.
func (ks *keySource) refetch(ctx context.Context) {
	cache := ks.cache.Load()
	runCtx := ks.runCtx.Load()
	if cache == nil || runCtx == nil {
		return
	}
	now := ks.v.now()
	ks.mu.Lock()
	ch := ks.inflight
	if ch == nil {
		if !ks.lastRefetch.IsZero() && now.Sub(ks.lastRefetch) < refetchEvery {
			ks.mu.Unlock()
			return
		}
		ks.lastRefetch = now
		ch = make(chan struct{})
		ks.inflight = ch
		ks.v.m.jwksRefetches.Inc()
		go func() {
			fctx, cancel := context.WithTimeout(*runCtx, jwksFetchTimeout)
			_, err := cache.Refresh(fctx, ks.url)
			cancel()
			if err != nil {
				ks.v.m.jwksFetches[1].Inc()
				ks.v.log.LogAttrs(fctx, slog.LevelWarn, "JWKS refetch for an unknown kid failed",
					slog.String("url", ks.url), slog.Any("err", err))
			}
			ks.mu.Lock()
			ks.inflight = nil
			ks.mu.Unlock()
			close(ch)
		}()
	}
	ks.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// jwksClient returns the client for JWKS fetches: explicit dial, TLS and header
// timeouts, a deadline on the whole exchange, no redirects (the allowlisted URL
// is the only one fetched) and a bounded response body.
//
// The deadline is the transport's (a context per request, released when the body
// is read to its end), not http.Client.Timeout: jwk.Cache never closes response
// bodies, and the client's timeout keeps a goroutine per request until it fires.
func jwksClient(base *http.Client) *http.Client {
	var c http.Client
	if base != nil {
		c = *base
	} else {
		c = http.Client{
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
				TLSHandshakeTimeout:   5 * time.Second,
				ResponseHeaderTimeout: 5 * time.Second,
				IdleConnTimeout:       90 * time.Second,
				MaxIdleConns:          2,
			},
		}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = limitedTransport{base: rt, timeout: jwksFetchTimeout}
	return &c
}

// limitedTransport puts a deadline on each exchange and a size limit on each body.
type limitedTransport struct {
	base    http.RoundTripper
	timeout time.Duration
}

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(r.Context(), t.timeout)
	res, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	res.Body = &limitedBody{rc: res.Body, left: maxJWKSBytes, done: cancel}
	return res, nil
}

// CloseIdleConnections passes through, so that http.Client.CloseIdleConnections
// reaches the real transport.
func (t limitedTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// limitedBody fails a read past its limit instead of truncating silently, and
// releases the exchange's deadline when the body ends or is closed.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	done context.CancelFunc
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, err := b.rc.Read(one[:]); n == 0 && err != nil {
			b.done()
			return 0, err
		}
		b.done()
		return 0, fmt.Errorf("verify: JWKS response larger than %d bytes", maxJWKSBytes)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if err != nil {
		b.done()
	}
	return n, err
}

func (b *limitedBody) Close() error {
	err := b.rc.Close()
	b.done()
	return err
}

// sleep waits d or until ctx ends; false means ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
