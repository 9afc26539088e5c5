package issue

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Provider key set timings: the JWKS is refetched when older than jwksMaxAge, or
// when a token names a kid it lacks, at most once per jwksRefetchEvery (so a
// stream of tokens with made-up kids costs one fetch per interval, not one each).
const (
	jwksMaxAge       = time.Hour
	jwksRefetchEvery = 10 * time.Second
)

var errUnknownKid = errors.New("issue: provider key id unknown")

// providerKeys is a provider's JWKS, fetched on first use and cached; it
// implements go-oidc's KeySet (signature check only: go-oidc checks the claims).
type providerKeys struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	set     jwk.Set
	fetched time.Time // when set was fetched
	lastTry time.Time // the last fetch attempt
}

// VerifySignature checks a compact JWS against the cached keys and returns its payload.
func (k *providerKeys) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	msg, err := jws.ParseString(raw)
	if err != nil {
		return nil, fmt.Errorf("issue: provider token: %w", err)
	}
	if len(msg.Signatures()) != 1 {
		return nil, errors.New("issue: provider token: want exactly one signature")
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	alg := h.Algorithm()
	if alg == jwa.NoSignature || alg == "" {
		return nil, errors.New("issue: provider token: unsigned")
	}
	key, err := k.key(ctx, h.KeyID())
	if err != nil {
		return nil, err
	}
	if ka := key.Algorithm(); ka != nil && ka.String() != "" && ka.String() != alg.String() {
		return nil, fmt.Errorf("issue: provider token: alg %s does not match the key's %s", alg, ka)
	}
	return jws.Verify([]byte(raw), jws.WithKey(alg, key))
}

func (k *providerKeys) key(ctx context.Context, kid string) (jwk.Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if k.set != nil && now.Sub(k.fetched) < jwksMaxAge {
		if key, ok := lookupKey(k.set, kid); ok {
			return key, nil
		}
	}
	if k.set != nil && now.Sub(k.lastTry) < jwksRefetchEvery {
		return nil, errUnknownKid
	}
	k.lastTry = now
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	set, err := jwk.Fetch(fctx, k.url, jwk.WithHTTPClient(k.client),
		jwk.WithFetchWhitelist(jwk.NewMapWhitelist().Add(k.url)))
	if err == nil {
		k.set, k.fetched = set, now
	} else if k.set == nil {
		return nil, fmt.Errorf("issue: provider JWKS: %w", err)
	}
	if key, ok := lookupKey(k.set, kid); ok {
		return key, nil
	}
	return nil, errUnknownKid
}

// lookupKey finds the signing key kid names; a token without kid matches a set
// of exactly one key.
func lookupKey(set jwk.Set, kid string) (jwk.Key, bool) {
	if kid == "" {
		if set.Len() == 1 {
			return set.Key(0)
		}
		return nil, false
	}
	key, ok := set.LookupKeyID(kid)
	if ok && key.KeyUsage() != "" && key.KeyUsage() != "sig" {
		return nil, false
	}
	return key, ok
}
