package issue

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)

func TestHashPasswordRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		params   PasswordParams
		password string
		prefix   string
		saltB64  int
		keyB64   int
	}{
		{"test params", testParams, "correct horse battery staple", "$argon2id$v=19$m=1024,t=1,p=1$", 22, 43},
		{"defaults", DefaultPasswordParams(), "pässwörd ünicode", "$argon2id$v=19$m=19456,t=2,p=1$", 22, 43},
		{"longer salt and key", PasswordParams{Memory: 2048, Time: 2, Threads: 2, SaltLen: 32, KeyLen: 64}, "p", "$argon2id$v=19$m=2048,t=2,p=2$", 43, 86},
		{"empty password", testParams, "", "$argon2id$v=19$m=1024,t=1,p=1$", 22, 43},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := HashPassword(tt.password, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(h, tt.prefix) || !phcRE.MatchString(h) {
				t.Fatalf("hash %q, want prefix %q and PHC shape", h, tt.prefix)
			}
			m := phcRE.FindStringSubmatch(h)
			if len(m[4]) != tt.saltB64 || len(m[5]) != tt.keyB64 {
				t.Errorf("salt %d / key %d base64 characters, want %d / %d", len(m[4]), len(m[5]), tt.saltB64, tt.keyB64)
			}
			ok, err := VerifyPassword(h, tt.password)
			if err != nil || !ok {
				t.Fatalf("right password: %v, %v", ok, err)
			}
			for _, wrong := range []string{tt.password + "x", strings.ToUpper(tt.password) + "!", " " + tt.password} {
				if ok, err := VerifyPassword(h, wrong); err != nil || ok {
					t.Errorf("wrong password %q: %v, %v", wrong, ok, err)
				}
			}
			h2, _ := HashPassword(tt.password, tt.params)
			if h2 == h {
				t.Error("two hashes of one password are equal: the salt is not random")
			}
		})
	}
}

// TestVerifyUsesStoredParams: after the configured parameters change, old hashes
// verify with the parameters recorded in them.
func TestVerifyUsesStoredParams(t *testing.T) {
	old := PasswordParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 16}
	h, err := HashPassword("secret-1", old)
	if err != nil {
		t.Fatal(err)
	}
	type call struct {
		time, memory uint32
		threads      uint8
		keyLen       uint32
	}
	var calls []call
	hs := hasher{key: func(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		calls = append(calls, call{time, memory, threads, keyLen})
		return argon2.IDKey(pw, salt, time, memory, threads, keyLen)
	}}
	// The service now hashes new passwords with other parameters…
	nh, err := hs.hash("secret-2", PasswordParams{Memory: 2048, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32})
	if err != nil || !strings.HasPrefix(nh, "$argon2id$v=19$m=2048,t=3,p=2$") {
		t.Fatalf("new hash %q, %v", nh, err)
	}
	// …and still verifies the old one with the old ones.
	ok, err := hs.verify(h, "secret-1")
	if err != nil || !ok {
		t.Fatalf("old hash: %v, %v", ok, err)
	}
	want := []call{{3, 2048, 2, 32}, {1, 1024, 1, 16}}
	if len(calls) != 2 || calls[0] != want[0] || calls[1] != want[1] {
		t.Errorf("argon2 calls %+v, want %+v", calls, want)
	}
}

func TestParsePHCRejects(t *testing.T) {
	good, _ := HashPassword("pw", testParams)
	parts := strings.Split(good, "$") // "", argon2id, v=19, params, salt, hash
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := []struct{ name, phc string }{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", with(1, "argon2i")},
		{"old version", with(2, "v=16")},
		{"params reordered", with(3, "t=1,m=1024,p=1")},
		{"params missing", with(3, "m=1024,t=1")},
		{"param not a number", with(3, "m=lots,t=1,p=1")},
		{"zero time", with(3, "m=1024,t=0,p=1")},
		{"zero threads", with(3, "m=1024,t=1,p=0")},
		{"memory over ceiling", with(3, "m=4194304,t=1,p=1")},
		{"time over ceiling", with(3, "m=1024,t=1000,p=1")},
		{"memory under 8 KiB per lane", with(3, "m=16,t=1,p=4")},
		{"salt not base64", with(4, "!!!!")},
		{"salt too short", with(4, "AAAA")},
		{"hash too short", with(5, "AAAA")},
		{"padded base64", with(5, parts[5]+"=")},
		{"extra field", good + "$x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran := false
			hs := hasher{key: func([]byte, []byte, uint32, uint32, uint8, uint32) []byte { ran = true; return nil }}
			ok, err := hs.verify(tt.phc, "pw")
			if !errors.Is(err, ErrBadHash) || ok {
				t.Errorf("verify(%q) = %v, %v; want ErrBadHash", tt.phc, ok, err)
			}
			if ran {
				t.Error("argon2 ran on an unusable hash")
			}
		})
	}
}

func TestHashPasswordRefusesWeakParams(t *testing.T) {
	for _, p := range []PasswordParams{
		{Memory: 512, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 1024, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 1024, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		{Memory: 1024, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 32},
		{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
	} {
		if _, err := HashPassword("pw", p); err == nil {
			t.Errorf("HashPassword accepted %+v", p)
		}
	}
}
