package load

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// baselineUser is the one header the baseline answers with, rendered once as the
// verifier renders its identity headers once per token.
var baselineUser = []string{"baseline"}

// Baseline returns the reference handler: it reads the Authorization header and
// answers 200 with one header (X-Auth-User) when there is one, 401 otherwise. It is
// what "a bare Go net/http server" costs, to compare the verifier with.
func Baseline() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header()["X-Auth-User"] = baselineUser
		w.WriteHeader(http.StatusOK)
	})
}

// NewBaselineServer returns an http.Server for h with the verifier's limits
// (cmd/verifier: 5s read, 5s write, 5s read-header, 120s idle, 16 KiB of headers), so
// that both pay for the same deadline bookkeeping.
func NewBaselineServer(h http.Handler, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      5 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          errorLog,
	}
}

// VerifyingBaseline returns Baseline plus one JWS signature verification per
// request: the bearer token is checked with key by alg (jwx's jws.Verify, the
// key given, nothing fetched, no claims read), 200 with X-Auth-User when it
// verifies, 401 otherwise. It is what "a bare server that checks the token's
// signature" costs: the floor under a verifier's first sight of a token.
func VerifyingBaseline(alg jwa.SignatureAlgorithm, key any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if _, err := jws.Verify([]byte(tok), jws.WithKey(alg, key)); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header()["X-Auth-User"] = baselineUser
		w.WriteHeader(http.StatusOK)
	})
}

// ParseVerifyAlg returns the algorithm VerifyingBaseline checks with for a
// public key: ES256 for P-256, EdDSA for Ed25519.
func ParseVerifyAlg(pub any) (jwa.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return jwa.ES256, nil
		}
	case ed25519.PublicKey:
		return jwa.EdDSA, nil
	}
	return "", fmt.Errorf("load: key %T is neither P-256 nor Ed25519", pub)
}
