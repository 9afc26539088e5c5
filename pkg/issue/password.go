package issue

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrBadHash is returned for a stored password hash that is not an argon2id PHC string
// this package can verify.
var ErrBadHash = errors.New("issue: unusable password hash")

// Ceilings on the parameters a stored hash may ask for, so that a tampered or corrupt
// row cannot make one login allocate gigabytes or spin for minutes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 64
	maxThreads   = 64
	maxSaltLen   = 64
	maxKeyLen    = 128
)

var b64 = base64.RawStdEncoding // PHC strings use standard base64 without padding

// HashPassword hashes password with argon2id and returns the PHC string
// $argon2id$v=19$m=MEMORY,t=TIME,p=THREADS$SALT$HASH.
func HashPassword(password string, p PasswordParams) (string, error) {
	return hasher{}.hash(password, p)
}

// VerifyPassword reports whether password matches the PHC string phc, using the
// parameters recorded in phc. The comparison is constant-time. An error means the
// hash itself is unusable (ErrBadHash), not that the password is wrong.
func VerifyPassword(phc, password string) (bool, error) {
	return hasher{}.verify(phc, password)
}

// hasher runs argon2id. Its key field, nil in production, lets tests count and
// observe the work done.
type hasher struct {
	key func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte
}

func (h hasher) idKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	if h.key != nil {
		return h.key(password, salt, time, memory, threads, keyLen)
	}
	return argon2.IDKey(password, salt, time, memory, threads, keyLen)
}

func (h hasher) hash(password string, p PasswordParams) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+)
	key := h.idKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

func (h hasher) verify(phc, password string) (bool, error) {
	ph, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := h.idKey([]byte(password), ph.salt, ph.params.Time, ph.params.Memory, ph.params.Threads, uint32(len(ph.key)))
	return subtle.ConstantTimeCompare(got, ph.key) == 1, nil
}

type phcHash struct {
	params PasswordParams
	salt   []byte
	key    []byte
}

// parsePHC parses $argon2id$v=19$m=M,t=T,p=P$SALT$HASH, strictly: the parameters in
// that order, the version argon2 implements, bounded sizes.
func parsePHC(s string) (phcHash, error) {
	var ph phcHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return ph, fmt.Errorf("%w: not an argon2id PHC string", ErrBadHash)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return ph, fmt.Errorf("%w: version %q, want v=%d", ErrBadHash, parts[2], argon2.Version)
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return ph, fmt.Errorf("%w: parameters %q, want m=,t=,p=", ErrBadHash, parts[3])
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], name)
		if !ok {
			return ph, fmt.Errorf("%w: parameters %q, want m=,t=,p=", ErrBadHash, parts[3])
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return ph, fmt.Errorf("%w: parameter %s%q", ErrBadHash, name, v)
		}
		vals[i] = n
	}
	m, t, p := vals[0], vals[1], vals[2]
	if m > maxMemoryKiB || t < 1 || t > maxTime || p < 1 || p > maxThreads || m < 8*p {
		return ph, fmt.Errorf("%w: parameters m=%d,t=%d,p=%d out of range", ErrBadHash, m, t, p)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > maxSaltLen {
		return ph, fmt.Errorf("%w: salt", ErrBadHash)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return ph, fmt.Errorf("%w: hash", ErrBadHash)
	}
	ph.params = PasswordParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(p), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	ph.salt, ph.key = salt, key
	return ph, nil
}

// gate bounds concurrent hashing: each argon2 run holds Memory KiB.
type gate chan struct{}

func (g gate) enter(ctx context.Context) error {
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g gate) leave() { <-g }
