package tokens

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors.
var (
	// ErrMalformed: the template is not a compact JWS with a JSON header and claims.
	ErrMalformed = errors.New("tokens: malformed token")
	// ErrAlg: the signer's algorithm is not the template's.
	ErrAlg = errors.New("tokens: signer does not match the template's alg")
	// ErrKey: a key file holds no usable key.
	ErrKey = errors.New("tokens: unusable key")
)

var b64 = base64.RawURLEncoding

// replaced are the claims Mint sets; every other claim is copied from the template.
var replaced = []string{"sub", "sid", "email", "jti", "iat", "nbf", "exp"}

// Template is the shape of a token the issuer minted.
type Template struct {
	Alg, Kid string
	header   string // base64url of the protected header, reused verbatim
	static   []byte // the copied claims as JSON members: `"aud":"vexen","iss":…` (may be empty)
}

// ParseTemplate reads a compact JWS (header.claims.signature) without verifying it:
// the harness took it from the issuer's login answer.
func ParseTemplate(token string) (*Template, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: %d parts, want 3", ErrMalformed, len(parts))
	}
	hdrJSON, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil || hdr.Alg == "" {
		return nil, fmt.Errorf("%w: header %s", ErrMalformed, hdrJSON)
	}
	claimsJSON, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(claimsJSON, &claims); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	keys := make([]string, 0, len(claims))
	for k := range claims {
		if !slices.Contains(replaced, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var static []byte
	for i, k := range keys {
		if i > 0 {
			static = append(static, ',')
		}
		static = appendJSONString(static, k)
		static = append(static, ':')
		static = append(static, claims[k]...)
	}
	return &Template{Alg: hdr.Alg, Kid: hdr.Kid, header: parts[0], static: static}, nil
}

// WithKey returns the template for tokens of another key: the same header and
// claims, with alg and kid replaced (the header's members are re-encoded in
// sorted order, which a verifier does not mind).
func (t *Template) WithKey(alg, kid string) (*Template, error) {
	hdrJSON, err := b64.DecodeString(t.header)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	var hdr map[string]any
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
		return nil, fmt.Errorf("%w: header %s", ErrMalformed, hdrJSON)
	}
	hdr["alg"], hdr["kid"] = alg, kid
	b, err := json.Marshal(hdr)
	if err != nil {
		return nil, err
	}
	return &Template{Alg: alg, Kid: kid, header: b64.EncodeToString(b), static: t.static}, nil
}

// Claims are the values Mint puts into a token.
type Claims struct {
	Subject   string // the user id
	SessionID string
	Email     string
	IssuedAt  time.Time // also nbf
	ExpiresAt time.Time
}

// Signer signs a JWS signing input (base64url header "." base64url claims).
type Signer interface {
	Alg() string
	Sign(input []byte) ([]byte, error)
}

// Mint returns a compact JWS with the template's header, its copied claims, c, and a
// random jti, signed by s.
func (t *Template) Mint(c Claims, s Signer) (string, error) {
	tok, _, err := t.MintPayload(c, s)
	return tok, err
}

// MintPayload is Mint that also returns the token's claims as JSON: what the issuer
// and the verifier cache in Redis under access_token:{h}.
func (t *Template) MintPayload(c Claims, s Signer) (string, []byte, error) {
	if s.Alg() != t.Alg {
		return "", nil, fmt.Errorf("%w: %s, template %s", ErrAlg, s.Alg(), t.Alg)
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	payload := make([]byte, 0, len(t.static)+256)
	payload = append(payload, '{')
	payload = append(payload, t.static...)
	if len(t.static) > 0 {
		payload = append(payload, ',')
	}
	payload = append(payload, `"email":`...)
	payload = appendJSONString(payload, c.Email)
	payload = append(payload, `,"exp":`...)
	payload = strconv.AppendInt(payload, c.ExpiresAt.Unix(), 10)
	payload = append(payload, `,"iat":`...)
	payload = strconv.AppendInt(payload, c.IssuedAt.Unix(), 10)
	payload = append(payload, `,"jti":"`...)
	payload = b64.AppendEncode(payload, jti[:])
	payload = append(payload, `","nbf":`...)
	payload = strconv.AppendInt(payload, c.IssuedAt.Unix(), 10)
	payload = append(payload, `,"sid":`...)
	payload = appendJSONString(payload, c.SessionID)
	payload = append(payload, `,"sub":`...)
	payload = appendJSONString(payload, c.Subject)
	payload = append(payload, '}')

	out := make([]byte, 0, len(t.header)+1+b64.EncodedLen(len(payload))+1+b64.EncodedLen(512))
	out = append(out, t.header...)
	out = append(out, '.')
	out = b64.AppendEncode(out, payload)
	sig, err := s.Sign(out)
	if err != nil {
		return "", nil, err
	}
	out = append(out, '.')
	out = b64.AppendEncode(out, sig)
	return string(out), payload, nil
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

type es256 struct{ k *ecdsa.PrivateKey }

// ES256 signs with an ECDSA P-256 key (RFC 7518 §3.4: R and S, 32 bytes each).
func ES256(k *ecdsa.PrivateKey) Signer { return es256{k} }

func (es256) Alg() string { return "ES256" }

func (s es256) Sign(input []byte) ([]byte, error) {
	h := sha256.Sum256(input)
	r, ss, err := ecdsa.Sign(rand.Reader, s.k, h[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return sig, nil
}

type eddsa struct{ k ed25519.PrivateKey }

// EdDSA signs with an Ed25519 key (RFC 8037: the 64-byte signature).
func EdDSA(k ed25519.PrivateKey) Signer { return eddsa{k} }

func (eddsa) Alg() string { return "EdDSA" }

func (s eddsa) Sign(input []byte) ([]byte, error) { return ed25519.Sign(s.k, input), nil }

type hs256 []byte

// HS256 signs with HMAC-SHA-256 and the shared secret (JWT_SECRET_KEY).
func HS256(secret []byte) Signer { return hs256(secret) }

func (hs256) Alg() string { return "HS256" }

func (s hs256) Sign(input []byte) ([]byte, error) {
	m := hmac.New(sha256.New, s)
	m.Write(input)
	return m.Sum(nil), nil
}

// LoadKey reads a PKCS#8 PEM private key, as the issuer keeps its keys (KID.pem in
// its key directory).
func LoadKey(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%w: %s is not PEM", ErrKey, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKey, path, err)
	}
	return k, nil
}

// LoadECKey reads a PKCS#8 PEM P-256 private key, as the issuer keeps its ES256 keys.
func LoadECKey(path string) (*ecdsa.PrivateKey, error) {
	k, err := LoadKey(path)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: %s is not a P-256 key", ErrKey, path)
	}
	return ek, nil
}

// WriteEdKey writes a new Ed25519 private key to path as the issuer keeps its
// EdDSA keys: PKCS#8 PEM, mode 0600.
func WriteEdKey(path string) (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

// Hash is a token's {h}: the lowercase hex SHA-256 of the token string, the key of
// the Redis cache and the store.
func Hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// NewID returns a random RFC 4122 version 4 UUID, the issuer's shape for user and
// session ids.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// WriteFile writes tokens to path, one per line, as rotate.lua reads them.
func WriteFile(path string, tokens []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, t := range tokens {
		if strings.ContainsAny(t, "\r\n") {
			f.Close()
			return fmt.Errorf("%w: token contains a line break", ErrMalformed)
		}
		w.WriteString(t)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadFile reads a token file written by WriteFile (blank lines are skipped).
func ReadFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			out = append(out, t)
		}
	}
	return out, sc.Err()
}
