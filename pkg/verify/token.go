package verify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/vexen/vexen-auth/internal/strictjson"
	"github.com/vexen/vexen-auth/pkg/policy"
)

// maxHeaderSegment bounds the base64 JOSE header decoded before the signature check.
const maxHeaderSegment = 2048

// splitToken checks the compact JWS shape, three non-empty base64url segments
// (no padding), without allocating, and returns the header and payload segments.
func splitToken(tok string) (header, payload string, ok bool) {
	dots := [2]int{-1, -1}
	n := 0
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '.':
			if n == 2 {
				return "", "", false
			}
			dots[n] = i
			n++
		default:
			return "", "", false
		}
	}
	if n != 2 || dots[0] == 0 || dots[1] == dots[0]+1 || dots[1] == len(tok)-1 {
		return "", "", false
	}
	// Unpadded base64 never leaves a single character in the last quantum.
	if dots[0]%4 == 1 || (dots[1]-dots[0]-1)%4 == 1 || (len(tok)-dots[1]-1)%4 == 1 {
		return "", "", false
	}
	return tok[:dots[0]], tok[dots[0]+1 : dots[1]], true
}

// joseHeader is the part of the protected header the verifier looks at. Embedded
// keys and key URLs (jwk, jku, x5u, x5c) are ignored: keys come only from the
// configured JWKS or secret.
type joseHeader struct {
	Alg, Kid, Typ string
	// Ext is set when crit, b64 or cty is present (with any value, null included).
	Ext bool
}

// decodeHeader reads a JOSE header: names match exactly ("TYP" is not "typ") and a
// member given twice, anywhere in the header, is an error.
func decodeHeader(b []byte) (joseHeader, error) {
	var h joseHeader
	err := strictjson.Members(b, func(name, v []byte) (err error) {
		switch string(name) {
		case "alg":
			h.Alg, err = strictjson.String(v)
		case "kid":
			h.Kid, err = strictjson.String(v)
		case "typ":
			h.Typ, err = strictjson.String(v)
		case "crit", "b64", "cty":
			h.Ext = true
		}
		return err
	})
	return h, err
}

// typAccessToken reports whether typ is RFC 9068's "at+jwt" (media types compare
// case-insensitively, with or without the "application/" prefix).
func typAccessToken(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}

// tokenClaims are the claims the verifier reads, from a JWT payload or from Redis's
// access_token:{h} (the same JSON).
type tokenClaims struct {
	Iss   string      `json:"iss"`
	Sub   string      `json:"sub"`
	Aud   audience    `json:"aud"`
	Exp   numericDate `json:"exp"`
	Nbf   numericDate `json:"nbf"`
	Iat   numericDate `json:"iat"`
	Sid   string      `json:"sid"`
	Email string      `json:"email"`
	Roles []string    `json:"roles"`
	Amr   []string    `json:"amr"` // RFC 8176 authentication methods; "mfa" = two factors
}

// numericDate is a JWT NumericDate (seconds, possibly fractional), kept as unix ns.
type numericDate struct {
	set bool
	ns  int64
}

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = numericDate{}
		return nil
	}
	// Only the characters of a JSON number (ParseFloat alone would also take
	// "Inf", "0x1p4" or "1_0").
	if len(b) == 0 || b[0] != '-' && (b[0] < '0' || b[0] > '9') {
		return errors.New("NumericDate is not a number")
	}
	for _, c := range b {
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			return errors.New("NumericDate is not a number")
		}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
		return errors.New("NumericDate out of range")
	}
	*d = numericDate{set: true, ns: int64(f * 1e9)}
	return nil
}

func (d numericDate) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.ns / 1e9)
}

// audience is aud: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		s, err := strictjson.String(b)
		if err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	l, err := strictjson.Strings(b)
	if err != nil {
		return err
	}
	*a = l
	return nil
}

func (a audience) has(s string) bool {
	for _, x := range a {
		if x == s {
			return true
		}
	}
	return false
}

// decodeClaims parses a claims JSON object. Names match exactly ("ROLES" is an
// unknown claim, not roles) and a member given twice, at any depth, is an error:
// encoding/json and goccy/go-json would fold case and keep the last, so jwx (which
// matches exactly) and this decoder could read different claims from one token.
// It runs on every Redis-layer decision: one walk, no reflection.
func decodeClaims(b []byte) (*tokenClaims, error) {
	c := new(tokenClaims)
	err := strictjson.Members(b, func(name, v []byte) (err error) {
		switch string(name) {
		case "iss":
			c.Iss, err = strictjson.String(v)
		case "sub":
			c.Sub, err = strictjson.String(v)
		case "aud":
			err = c.Aud.UnmarshalJSON(v)
		case "exp":
			err = c.Exp.UnmarshalJSON(v)
		case "nbf":
			err = c.Nbf.UnmarshalJSON(v)
		case "iat":
			err = c.Iat.UnmarshalJSON(v)
		case "sid":
			c.Sid, err = strictjson.String(v)
		case "email":
			c.Email, err = strictjson.String(v)
		case "roles":
			c.Roles, err = strictjson.Strings(v)
		case "amr":
			c.Amr, err = strictjson.Strings(v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// checkClaims applies the claim rules at now: iss, aud, sub, sid, exp and iat
// present, a life (exp - iat) within MaxTokenLife, exp/nbf/iat with leeway,
// header-safe values.
func (v *Verifier) checkClaims(c *tokenClaims, now int64) Reason {
	leeway := int64(v.cfg.Leeway)
	switch {
	case c.Iss != v.cfg.Issuer, !c.Aud.has(v.cfg.Audience),
		c.Sub == "", c.Sid == "", !c.Exp.set, !c.Iat.set:
		return ReasonClaims
	case c.Exp.ns-c.Iat.ns > int64(v.cfg.MaxTokenLife):
		// Longer than the revocation window the verifier holds: its session could
		// have been revoked before the window began.
		return ReasonClaims
	case now >= c.Exp.ns+leeway:
		return ReasonExpired
	case c.Nbf.set && now < c.Nbf.ns-leeway, c.Iat.set && now < c.Iat.ns-leeway:
		return ReasonExpired
	}
	if !headerSafe(c.Sub) || !headerSafe(c.Sid) || !headerSafe(c.Email) {
		return ReasonClaims
	}
	for _, r := range c.Roles {
		if !policy.ValidRole(r) {
			return ReasonClaims
		}
	}
	return ReasonOK
}

// headerSafe: no control characters, so the value can go into an HTTP header.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// verified is the outcome of a full token check.
type verified struct {
	claims  *tokenClaims
	payload []byte // the signed claims JSON, as Redis caches it
}

// maxSignatureSegment bounds the base64 signature: an RSA-4096 signature is 683
// characters, the largest the trusted keys make.
const maxSignatureSegment = 1024

// sigEncoding decodes the signature segment; strict, so that a signature has one
// spelling only (and one token one cache key).
var sigEncoding = base64.RawURLEncoding.Strict()

// verifyToken does the full check of a token nobody vouched for: shape, JOSE
// header (typ, no crit/b64/cty), the key named by kid, whose own algorithm the
// header must name, the signature checked with that key alone, then the claims
// read by decodeClaims and checked by checkClaims (iss, aud, exp/nbf/iat with
// leeway at the verifier's clock). A bad token is a Reason; the error is only
// "keys not loaded".
func (v *Verifier) verifyToken(ctx context.Context, tok string, now time.Time) (verified, Reason, error) {
	hseg, pseg, ok := splitToken(tok)
	if !ok || len(hseg) > maxHeaderSegment {
		return verified{}, ReasonMalformed, nil
	}
	signed := len(hseg) + 1 + len(pseg) // header.payload, the signing input
	sseg := tok[signed+1:]
	if len(sseg) > maxSignatureSegment {
		return verified{}, ReasonMalformed, nil
	}
	var hbuf [maxHeaderSegment * 3 / 4]byte
	n, err := base64.RawURLEncoding.Decode(hbuf[:], unsafe.Slice(unsafe.StringData(hseg), len(hseg)))
	if err != nil {
		return verified{}, ReasonMalformed, nil
	}
	h, err := decodeHeader(hbuf[:n])
	if err != nil {
		return verified{}, ReasonMalformed, nil
	}
	if h.Ext {
		// Extensions we do not implement must be refused (RFC 7515 §4.1.11); the
		// issuer uses none, nor nesting.
		return verified{}, ReasonMalformed, nil
	}
	if !typAccessToken(h.Typ) {
		return verified{}, ReasonClaims, nil
	}
	ring := v.keys.current()
	if ring == nil {
		return verified{}, ReasonUnavailable, ErrKeysUnavailable
	}
	key, known := ring.lookup(h.Kid)
	if !known {
		v.keys.refetch(ctx)
		ring = v.keys.current()
		key, known = ring.lookup(h.Kid)
		if !known {
			return verified{}, ReasonSignature, nil
		}
	}
	// The header's alg must be the key's own: no "none", no HS256 with a public
	// key as the secret, no RS256 with an EC key.
	if h.Alg != key.alg.String() {
		return verified{}, ReasonSignature, nil
	}
	if v.hooks.verify != nil {
		v.hooks.verify()
	}
	sig := make([]byte, sigEncoding.DecodedLen(len(sseg)))
	n, err = sigEncoding.Decode(sig, unsafe.Slice(unsafe.StringData(sseg), len(sseg)))
	if err != nil {
		return verified{}, ReasonSignature, nil
	}
	sig = sig[:n]
	// The verifiers only read the signing input: it is the token's own bytes.
	if err := key.ver.Verify(unsafe.Slice(unsafe.StringData(tok), signed), sig, key.raw); err != nil {
		return verified{}, ReasonSignature, nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(pseg)
	if err != nil {
		return verified{}, ReasonMalformed, nil
	}
	c, err := decodeClaims(payload)
	if err != nil {
		return verified{}, ReasonClaims, nil
	}
	if r := v.checkClaims(c, now.UnixNano()); r != ReasonOK {
		return verified{}, r, nil
	}
	return verified{claims: c, payload: payload}, ReasonOK, nil
}

// minimalClaims renders the claims a cached entry still knows, for a Redis refill
// after a session re-check (the original payload is not kept in memory).
func (v *Verifier) minimalClaims(e *entry) []byte {
	exp := (e.deadline - int64(v.cfg.Leeway)) / 1e9
	b, err := json.Marshal(struct {
		Iss   string   `json:"iss"`
		Sub   string   `json:"sub"`
		Aud   string   `json:"aud"`
		Exp   int64    `json:"exp"`
		Iat   int64    `json:"iat"`
		Sid   string   `json:"sid"`
		Email string   `json:"email"`
		Roles []string `json:"roles"`
		Amr   []string `json:"amr,omitempty"`
	}{v.cfg.Issuer, e.id.UserID, v.cfg.Audience, exp,
		// The entry does not keep iat; its token passed the life check, so its iat
		// was at least exp - MaxTokenLife: the earliest it can have been is written.
		exp - int64(v.cfg.MaxTokenLife/time.Second),
		e.id.SessionID, e.id.Email, e.id.Roles(), e.id.AMR()})
	if err != nil {
		return nil
	}
	return b
}
