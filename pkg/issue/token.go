package issue

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/vexen/vexen-auth/internal/strictjson"
)

// RefreshTokenBytes is the entropy of a refresh token; it is sent as base64url without
// padding (43 characters).
const RefreshTokenBytes = 32

var refreshTokenLen = base64.RawURLEncoding.EncodedLen(RefreshTokenBytes)

// TokenHash is {h} of the design: the lowercase hex SHA-256 of the token string, the
// only form in which refresh tokens are stored and under which Redis keys tokens.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// hashPrefix is what logs may show of a token: the first 12 hex digits of its hash.
func hashPrefix(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

func newRefreshToken() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(RefreshTokenBytes))
}

// wellFormedRefresh reports whether s can be one of our refresh tokens, so that junk
// is turned away without a database round trip.
func wellFormedRefresh(s string) bool {
	if len(s) != refreshTokenLen {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// newID returns a random RFC 4122 version 4 UUID string.
func newID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// Claims are the claims of an access token (RFC 9068 profile plus sid, email, roles).
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"` // the user id
	Audience  string   `json:"aud"`
	ExpiresAt int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	JWTID     string   `json:"jti"`
	SessionID string   `json:"sid"`
	Email     string   `json:"email"`
	Roles     []string `json:"roles"`         // never null
	IdP       string   `json:"idp,omitempty"` // the provider id of a federated session
	AMR       []string `json:"amr,omitempty"` // RFC 8176; ["fed"] for a federated session
}

// tokenExtras are the claims a session adds to its access tokens.
type tokenExtras struct {
	IdP string
	AMR []string
}

// minted is one freshly signed token pair, with everything the store and Redis need.
type minted struct {
	access      string
	accessHash  string
	accessExp   time.Time
	claims      []byte // the JWT payload, as Redis caches it
	refresh     string
	refreshHash string
	refreshExp  time.Time
}

// expiresIn is the contract's expires_in: whole seconds from iat to exp, so always
// AccessTTL (in seconds) for a fresh token.
func (m *minted) expiresIn(now time.Time) int64 {
	return m.accessExp.Unix() - now.Unix()
}

// mint signs an access token for user in session sid and makes a refresh token.
// Times are whole seconds, as JWT NumericDates are; exp is now + AccessTTL.
func (s *Service) mint(sid, userID, email string, roles []string, now time.Time, x tokenExtras) (*minted, error) {
	signer := s.keys.current().signer
	iat := now.Unix()
	exp := now.Add(s.cfg.AccessTTL).Unix()
	if roles == nil {
		roles = []string{}
	}
	c := Claims{
		Issuer:    s.cfg.IssuerURL,
		Subject:   userID,
		Audience:  s.cfg.Audience,
		ExpiresAt: exp,
		IssuedAt:  iat,
		NotBefore: iat,
		JWTID:     base64.RawURLEncoding.EncodeToString(randomBytes(16)),
		SessionID: sid,
		Email:     email,
		Roles:     roles,
		IdP:       x.IdP,
		AMR:       x.AMR,
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("issue: encode claims: %w", err)
	}
	tok, err := signer.sign(payload)
	if err != nil {
		return nil, fmt.Errorf("issue: sign access token (kid %s): %w", signer.kid, err)
	}
	m := &minted{
		access:     string(tok),
		accessExp:  time.Unix(exp, 0),
		claims:     payload,
		refresh:    newRefreshToken(),
		refreshExp: now.Add(s.cfg.RefreshTTL),
	}
	m.accessHash = TokenHash(m.access)
	m.refreshHash = TokenHash(m.refresh)
	return m, nil
}

// VerifyAccessToken checks an access token this issuer minted: signature by one of its
// keys (the algorithm and kid must match the key's), typ at+jwt, iss, aud, nbf and iat
// (with Config.Leeway of skew), sub and sid present. With allowExpired, an expired
// token is accepted (logout only ever takes access away, and a client that wants to
// log out often holds an expired token); otherwise exp must be in the future. It does
// not consult the store: whether the session is still live is the caller's question.
// Any failure is ErrInvalidToken.
func (s *Service) VerifyAccessToken(token string, allowExpired bool) (Claims, error) {
	var c Claims
	if s.keys == nil {
		return c, ErrNoKey
	}
	if len(token) > maxTokenLen {
		return c, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	if err := checkJOSE(token); err != nil {
		return c, err
	}
	opts := []jwt.ParseOption{
		jwt.WithKeySet(s.keys.current().verify),
		jwt.WithValidate(true),
		jwt.WithClock(jwt.ClockFunc(s.now)),
		jwt.WithAcceptableSkew(s.cfg.Leeway),
		jwt.WithIssuer(s.cfg.IssuerURL),
		jwt.WithAudience(s.cfg.Audience),
		jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithRequiredClaim("sid"),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	}
	if allowExpired {
		opts = append(opts, jwt.WithResetValidators(true),
			jwt.WithValidator(jwt.IsNbfValid()), jwt.WithValidator(jwt.IsIssuedAtValid()))
	}
	tok, err := jwt.ParseString(token, opts...)
	if err != nil && s.keys.rescanOnDemand() {
		// Another issuer sharing the keys directory may already sign with a key
		// this one has not read yet: read the directory, then try once more.
		opts[0] = jwt.WithKeySet(s.keys.current().verify)
		tok, err = jwt.ParseString(token, opts...)
	}
	if err != nil {
		return c, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	c.Issuer = tok.Issuer()
	c.Subject = tok.Subject()
	if aud := tok.Audience(); len(aud) > 0 {
		c.Audience = aud[0]
	}
	c.ExpiresAt = tok.Expiration().Unix()
	c.IssuedAt = tok.IssuedAt().Unix()
	c.NotBefore = tok.NotBefore().Unix()
	c.JWTID = tok.JwtID()
	if v, ok := tok.Get("sid"); ok {
		c.SessionID, _ = v.(string)
	}
	if v, ok := tok.Get("email"); ok {
		c.Email, _ = v.(string)
	}
	if v, ok := tok.Get("roles"); ok {
		if rs, ok := v.([]any); ok {
			for _, r := range rs {
				if r, ok := r.(string); ok {
					c.Roles = append(c.Roles, r)
				}
			}
		}
	}
	if c.Roles == nil {
		c.Roles = []string{}
	}
	if v, ok := tok.Get("amr"); ok {
		if ms, ok := v.([]any); ok {
			for _, m := range ms {
				if m, ok := m.(string); ok {
					c.AMR = append(c.AMR, m)
				}
			}
		}
	}
	if v, ok := tok.Get("idp"); ok {
		c.IdP, _ = v.(string)
	}
	if c.SessionID == "" || c.Subject == "" {
		return c, fmt.Errorf("%w: empty sub or sid", ErrInvalidToken)
	}
	return c, nil
}

const maxTokenLen = 8 << 10

// checkJOSE requires the protected header's typ to be at+jwt (RFC 9068 §4), so no
// other JWT signed with the same key passes for an access token, and refuses a
// header or claims object with a member given twice: jwx keeps the last of two, and
// the verifier refuses the token, so the issuer must not read it either. Names are
// exact: "TYP" is not typ.
func checkJOSE(token string) error {
	head, rest, ok := strings.Cut(token, ".")
	payload, _, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return fmt.Errorf("%w: not a JWS", ErrInvalidToken)
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return fmt.Errorf("%w: header encoding", ErrInvalidToken)
	}
	var typ string
	if err := strictjson.Members(raw, func(name, v []byte) (err error) {
		if string(name) == "typ" {
			typ, err = strictjson.String(v)
		}
		return err
	}); err != nil {
		return fmt.Errorf("%w: header: %v", ErrInvalidToken, err)
	}
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return fmt.Errorf("%w: typ %q, want at+jwt", ErrInvalidToken, typ)
	}
	raw, err = base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return fmt.Errorf("%w: claims encoding", ErrInvalidToken)
	}
	if err := strictjson.Members(raw, nil); err != nil {
		return fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	return nil
}

// cleanRoles trims, drops empties and duplicates, keeping order. A role may not
// contain a comma (X-Auth-Roles joins them with commas), blanks or control bytes.
func cleanRoles(roles []string) ([]string, error) {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if len(r) > 128 || strings.ContainsFunc(r, func(c rune) bool { return c == ',' || c <= ' ' || c == 0x7f }) {
			return nil, fmt.Errorf("%w: %q", ErrInvalidRole, r)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

var errNoMint = errors.New("issue: rotation did not mint")
