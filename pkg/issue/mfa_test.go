package issue

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/vexen/vexen-auth/pkg/store"
)

// TestMFA runs the second factor's API tests on both real stores (the in-memory fake
// keeps no factors).
func TestMFA(t *testing.T) {
	tests := []struct {
		name string
		run  func(*testing.T, *env)
	}{
		{"EnrolConfirmLogin", testMFAEnrolConfirmLogin},
		{"ConfirmWrongCode", testMFAConfirmWrongCode},
		{"WrongAndReplayedCode", testMFAWrongAndReplayedCode},
		{"MFATokenExpiredReusedForged", testMFAToken},
		{"RecoveryCodeOnce", testMFARecoveryCode},
		{"RemoveLastFactor", testMFARemove},
		{"WrongCodesThrottled", testMFAThrottle},
		{"StepUp", testMFAStepUp},
		{"RefreshKeepsAMR", testMFARefreshKeepsAMR},
		{"ConcurrentReplay", testMFAConcurrentReplay},
	}
	for _, rs := range realStores {
		t.Run(rs.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					e := newEnv(t, rs.open(t), func(c *Config, _ *Deps) {
						c.LoginRate.PerAccount = Rate{Events: 5, Per: time.Minute, Burst: 5}
					})
					tt.run(t, e)
				})
			}
		})
	}
}

// TestMFAMemStore: a store without second factors logs users in with a password and
// answers the factor endpoints 501.
func TestMFAMemStore(t *testing.T) {
	e := newEnv(t, newMemStore(), nil)
	e.addUser("m@example.com", "m-password")
	p := e.login("m@example.com", "m-password")
	wantError(t, e.postBearer(PathTOTP, p.AccessToken), http.StatusNotImplemented, "not_supported")
}

func (e *env) postJSONBearer(path, token, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(request{method: http.MethodPost, path: path, body: body, header: map[string]string{"Authorization": "Bearer " + token}})
}

func codeBody(code string) string { return jsonString(map[string]string{"code": code}) }

func mfaBody(tok, code string) string {
	return jsonString(map[string]string{"mfa_token": tok, "code": code})
}

// enrol enrols and confirms TOTP for the user of p; it returns the secret and the
// recovery codes. The clock moves one step on, so that the test's first code is new.
func (e *env) enrol(p TokenPair) (string, []string) {
	e.t.Helper()
	w := e.postBearer(PathTOTP, p.AccessToken)
	if w.Code != http.StatusOK {
		e.t.Fatalf("enrol: %d %s", w.Code, w.Body)
	}
	var en TOTPEnrolment
	if err := json.Unmarshal(w.Body.Bytes(), &en); err != nil {
		e.t.Fatal(err)
	}
	if !strings.HasPrefix(en.URL, "otpauth://totp/") || !strings.Contains(en.URL, "secret="+en.Secret) {
		e.t.Fatalf("otpauth_url %q, secret %q", en.URL, en.Secret)
	}
	w = e.postJSONBearer(PathTOTPConfirm, p.AccessToken, codeBody(e.code(en.Secret)))
	if w.Code != http.StatusOK {
		e.t.Fatalf("confirm: %d %s", w.Code, w.Body)
	}
	var rc struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &rc); err != nil {
		e.t.Fatal(err)
	}
	if len(rc.RecoveryCodes) != RecoveryCodeCount {
		e.t.Fatalf("%d recovery codes, want %d", len(rc.RecoveryCodes), RecoveryCodeCount)
	}
	e.clock.Advance(30 * time.Second)
	return en.Secret, rc.RecoveryCodes
}

func (e *env) code(secret string) string {
	e.t.Helper()
	c, err := totp.GenerateCode(secret, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// mfaLogin logs in with a password and expects mfa_required; it returns the token.
func (e *env) mfaLogin(email, password string) string {
	e.t.Helper()
	w := e.post("/v1/login", loginBody(email, password))
	if w.Code != http.StatusUnauthorized {
		e.t.Fatalf("login: %d %s, want 401 mfa_required", w.Code, w.Body)
	}
	var b mfaRequiredBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		e.t.Fatal(err)
	}
	if b.Error != "mfa_required" || len(b.MFAToken) != 43 || !slices.Equal(b.Methods, []string{"otp"}) {
		e.t.Fatalf("login answer %s", w.Body)
	}
	return b.MFAToken
}

func (e *env) amr(access string) []string {
	e.t.Helper()
	c, err := e.svc.VerifyAccessToken(access, false)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.AMR
}

func testMFAEnrolConfirmLogin(t *testing.T, e *env) {
	e.addUser("t@example.com", "t-password")
	p := e.login("t@example.com", "t-password")
	if got := e.amr(p.AccessToken); !slices.Equal(got, []string{"pwd"}) {
		t.Fatalf("password login amr %v, want [pwd]", got)
	}
	// Pending (not confirmed): the password alone still signs in.
	w := e.postBearer(PathTOTP, p.AccessToken)
	if w.Code != http.StatusOK {
		t.Fatalf("enrol: %d %s", w.Code, w.Body)
	}
	e.login("t@example.com", "t-password")

	secret, _ := e.enrol(p)
	wantError(t, e.postBearer(PathTOTP, p.AccessToken), http.StatusConflict, "mfa_already_enabled")
	if strings.Contains(e.logs.String(), secret) {
		t.Fatal("the TOTP secret is in the logs")
	}
	// The secret is not stored in the clear.
	tt, err := e.svc.factors.TOTP(t.Context(), e.uid("t@example.com"))
	if err != nil || strings.Contains(string(tt.Secret), secret) {
		t.Fatalf("stored secret %q (%v) holds the secret in the clear", tt.Secret, err)
	}

	tok := e.mfaLogin("t@example.com", "t-password")
	pair := decodePair(t, e.post(PathLoginMFA, mfaBody(tok, e.code(secret))))
	if got := e.amr(pair.AccessToken); !slices.Equal(got, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("amr %v, want [pwd otp mfa]", got)
	}
	// A wrong password never reaches the second step.
	wantError(t, e.post("/v1/login", loginBody("t@example.com", "wrong-password")), http.StatusUnauthorized, "invalid_credentials")
}

func (e *env) uid(email string) string {
	e.t.Helper()
	u, err := e.store.UserByEmail(e.t.Context(), email)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.ID
}

func testMFAConfirmWrongCode(t *testing.T, e *env) {
	e.addUser("c@example.com", "c-password")
	p := e.login("c@example.com", "c-password")
	wantError(t, e.postJSONBearer(PathTOTPConfirm, p.AccessToken, codeBody("123456")), http.StatusConflict, "no_factor")
	w := e.postBearer(PathTOTP, p.AccessToken)
	var en TOTPEnrolment
	json.Unmarshal(w.Body.Bytes(), &en)
	good := e.code(en.Secret)
	bad := "000000"
	if good == bad {
		bad = "111111"
	}
	wantError(t, e.postJSONBearer(PathTOTPConfirm, p.AccessToken, codeBody(bad)), http.StatusUnauthorized, "invalid_code")
	wantError(t, e.postJSONBearer(PathTOTPConfirm, p.AccessToken, codeBody("12ab56")), http.StatusBadRequest, "invalid_request")
	wantError(t, e.postJSONBearer(PathTOTPConfirm, "nonsense", codeBody(good)), http.StatusUnauthorized, "invalid_token")
	// Not confirmed: the password alone signs in.
	e.login("c@example.com", "c-password")
	// A code two steps old is refused.
	e.clock.Advance(61 * time.Second)
	wantError(t, e.postJSONBearer(PathTOTPConfirm, p.AccessToken, codeBody(good)), http.StatusUnauthorized, "invalid_code")
	e.login("c@example.com", "c-password")
}

func testMFAWrongAndReplayedCode(t *testing.T, e *env) {
	e.addUser("r@example.com", "r-password")
	secret, _ := e.enrol(e.login("r@example.com", "r-password"))
	tok := e.mfaLogin("r@example.com", "r-password")
	good := e.code(secret)
	bad := "000000"
	if good == bad {
		bad = "111111"
	}
	wantError(t, e.post(PathLoginMFA, mfaBody(tok, bad)), http.StatusUnauthorized, "invalid_code")
	// A wrong code leaves the mfa_token usable.
	decodePair(t, e.post(PathLoginMFA, mfaBody(tok, good)))
	// The same code again, with a fresh mfa_token: a replay.
	tok2 := e.mfaLogin("r@example.com", "r-password")
	wantError(t, e.post(PathLoginMFA, mfaBody(tok2, good)), http.StatusUnauthorized, "invalid_code")
	// The previous step's code is accepted (clock skew), once; then not the older one.
	e.clock.Advance(30 * time.Second)
	prev := e.code(secret)
	e.clock.Advance(30 * time.Second)
	decodePair(t, e.post(PathLoginMFA, mfaBody(tok2, prev)))
	if got := e.counter("vexen_issuer_logins_total", "result", "wrong_code"); got != 2 {
		t.Errorf("logins_total{wrong_code} = %v, want 2", got)
	}
}

func testMFAToken(t *testing.T, e *env) {
	e.addUser("k@example.com", "k-password")
	secret, _ := e.enrol(e.login("k@example.com", "k-password"))
	// Expired.
	tok := e.mfaLogin("k@example.com", "k-password")
	e.clock.Advance(MFATokenTTL + time.Second)
	wantError(t, e.post(PathLoginMFA, mfaBody(tok, e.code(secret))), http.StatusUnauthorized, "invalid_mfa_token")
	// Reused after success.
	tok = e.mfaLogin("k@example.com", "k-password")
	decodePair(t, e.post(PathLoginMFA, mfaBody(tok, e.code(secret))))
	e.clock.Advance(30 * time.Second)
	wantError(t, e.post(PathLoginMFA, mfaBody(tok, e.code(secret))), http.StatusUnauthorized, "invalid_mfa_token")
	// Forged, malformed, missing.
	wantError(t, e.post(PathLoginMFA, mfaBody(newRefreshToken(), e.code(secret))), http.StatusUnauthorized, "invalid_mfa_token")
	wantError(t, e.post(PathLoginMFA, mfaBody("short", e.code(secret))), http.StatusUnauthorized, "invalid_mfa_token")
	wantError(t, e.post(PathLoginMFA, mfaBody("", "123456")), http.StatusBadRequest, "invalid_request")
	wantError(t, e.post(PathLoginMFA, `{"mfa_token":"x","code":"1","extra":1}`), http.StatusBadRequest, "invalid_request")
}

func testMFARecoveryCode(t *testing.T, e *env) {
	e.addUser("q@example.com", "q-password")
	_, codes := e.enrol(e.login("q@example.com", "q-password"))
	tok := e.mfaLogin("q@example.com", "q-password")
	// Upper case and without the dash: the same code.
	pair := decodePair(t, e.post(PathLoginMFA, mfaBody(tok, strings.ToUpper(strings.ReplaceAll(codes[3], "-", "")))))
	if got := e.amr(pair.AccessToken); !slices.Contains(got, "mfa") {
		t.Fatalf("amr %v after a recovery code, want mfa", got)
	}
	tok = e.mfaLogin("q@example.com", "q-password")
	wantError(t, e.post(PathLoginMFA, mfaBody(tok, codes[3])), http.StatusUnauthorized, "invalid_code")
	wantError(t, e.post(PathLoginMFA, mfaBody(tok, "aaaaa-aaaaa")), http.StatusUnauthorized, "invalid_code")
	decodePair(t, e.post(PathLoginMFA, mfaBody(tok, codes[4])))
	st, err := e.svc.Factors(t.Context(), e.uid("q@example.com"))
	if err != nil || !st.TOTP || st.RecoveryCodes != RecoveryCodeCount-2 {
		t.Fatalf("factors %+v, %v: want TOTP with %d recovery codes", st, err, RecoveryCodeCount-2)
	}
	if strings.Contains(e.logs.String(), codes[4]) {
		t.Fatal("a recovery code is in the logs")
	}
}

func testMFARemove(t *testing.T, e *env) {
	e.addUser("d@example.com", "d-password")
	p := e.login("d@example.com", "d-password")
	del := func(code string) *httptest.ResponseRecorder {
		return e.do(request{method: http.MethodDelete, path: PathTOTP, body: codeBody(code),
			header: map[string]string{"Authorization": "Bearer " + p.AccessToken}})
	}
	wantError(t, del("123456"), http.StatusConflict, "no_factor")
	secret, codes := e.enrol(p)
	bad := "000000"
	if e.code(secret) == bad {
		bad = "111111"
	}
	wantError(t, del(bad), http.StatusUnauthorized, "invalid_code")
	e.mfaLogin("d@example.com", "d-password") // still required
	if w := del(e.code(secret)); w.Code != http.StatusNoContent {
		t.Fatalf("remove: %d %s", w.Code, w.Body)
	}
	// The last factor is gone: the password alone signs in, the old recovery codes
	// are dead, and removing again finds nothing.
	e.login("d@example.com", "d-password")
	wantError(t, del(codes[0]), http.StatusConflict, "no_factor")
	if st, _ := e.svc.Factors(t.Context(), e.uid("d@example.com")); st.TOTP || st.RecoveryCodes != 0 {
		t.Fatalf("factors after removal %+v", st)
	}
}

func testMFAThrottle(t *testing.T, e *env) {
	e.addUser("h@example.com", "h-password")
	secret, _ := e.enrol(e.login("h@example.com", "h-password"))
	tok := e.mfaLogin("h@example.com", "h-password")
	good := e.code(secret)
	bad := "000000"
	if good == bad {
		bad = "111111"
	}
	// The account bucket holds 5: wrong codes spend it, then even the right code waits.
	for i := range 5 {
		w := e.post(PathLoginMFA, mfaBody(tok, bad))
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d %s", i, w.Code, w.Body)
		}
	}
	w := e.post(PathLoginMFA, mfaBody(tok, good))
	wantError(t, w, http.StatusTooManyRequests, "rate_limited")
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func testMFAStepUp(t *testing.T, e *env) {
	e.addUser("s@example.com", "s-password")
	p := e.login("s@example.com", "s-password")
	// No factor: nothing to step up with.
	wantError(t, e.postBearer(PathStepUp, p.AccessToken), http.StatusConflict, "no_factor")
	secret, _ := e.enrol(p)
	w := e.postBearer(PathStepUp, p.AccessToken)
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"mfa_required"`) {
		t.Fatalf("step-up: %d %s", w.Code, w.Body)
	}
	var b mfaRequiredBody
	json.Unmarshal(w.Body.Bytes(), &b)
	up := decodePair(t, e.post(PathLoginMFA, mfaBody(b.MFAToken, e.code(secret))))
	if got := e.amr(up.AccessToken); !slices.Equal(got, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("stepped-up amr %v", got)
	}
	// The old token keeps its amr, and its session is replaced.
	if got := e.amr(p.AccessToken); !slices.Equal(got, []string{"pwd"}) {
		t.Fatalf("old token amr %v", got)
	}
	if _, err := e.svc.Authenticate(t.Context(), p.AccessToken); err == nil {
		t.Fatal("the replaced session is still live")
	}
	if _, err := e.svc.Authenticate(t.Context(), up.AccessToken); err != nil {
		t.Fatalf("new session: %v", err)
	}
}

func testMFARefreshKeepsAMR(t *testing.T, e *env) {
	e.addUser("f@example.com", "f-password")
	secret, _ := e.enrol(e.login("f@example.com", "f-password"))
	tok := e.mfaLogin("f@example.com", "f-password")
	pair := decodePair(t, e.post(PathLoginMFA, mfaBody(tok, e.code(secret))))
	e.clock.Advance(time.Minute)
	next := decodePair(t, e.post("/v1/refresh", refreshBody(pair.RefreshToken)))
	if got := e.amr(next.AccessToken); !slices.Equal(got, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("refreshed amr %v", got)
	}
	c, _ := e.svc.VerifyAccessToken(next.AccessToken, false)
	sess, err := e.store.(store.Store).Session(t.Context(), c.SessionID)
	if err != nil || !slices.Equal(sess.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("stored session amr %v, %v", sess.AMR, err)
	}
}

// TestTOTPKeyFile: the sealing key is made 0600 on first start and reused; a key
// file others can read is refused.
func TestTOTPKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "totp.key")
	a, err := loadSealer(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("key file %v, %v", fi, err)
	}
	b, err := loadSealer(path)
	if err != nil {
		t.Fatal(err)
	}
	sealed := a.seal("u1", []byte("SECRET"))
	if got, err := b.open("u1", sealed); err != nil || string(got) != "SECRET" {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := b.open("u2", sealed); err == nil {
		t.Fatal("a secret sealed for u1 opens for u2")
	}
	os.Chmod(path, 0o644)
	if _, err := loadSealer(path); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("world-readable key: %v", err)
	}
}

// testMFAConcurrentReplay: one code presented by 10 logins at once opens exactly one
// session (the store accepts a time step once, atomically).
func testMFAConcurrentReplay(t *testing.T, e *env) {
	e.addUser("x@example.com", "x-password")
	secret, _ := e.enrol(e.login("x@example.com", "x-password"))
	const n = 10
	toks := make([]string, n)
	for i := range toks {
		toks[i] = e.mfaLogin("x@example.com", "x-password")
	}
	code := e.code(secret)
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodPost, PathLoginMFA, strings.NewReader(mfaBody(toks[i], code)))
			req.Header.Set("Content-Type", "application/json")
			req.RemoteAddr = "192.0.2.10:40000"
			w := httptest.NewRecorder()
			e.svc.Handler().ServeHTTP(w, req)
			codes <- w.Code
		}()
	}
	wg.Wait()
	close(codes)
	ok := 0
	for c := range codes {
		switch c {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized, http.StatusTooManyRequests:
		default:
			t.Errorf("status %d", c)
		}
	}
	if ok != 1 {
		t.Fatalf("%d logins succeeded with one code, want exactly 1", ok)
	}
}
