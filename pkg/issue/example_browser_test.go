package issue_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vexen/vexen-auth/pkg/issue"
	"github.com/vexen/vexen-auth/pkg/store"
	_ "github.com/vexen/vexen-auth/pkg/store/sqlite"
)

// The browser pages: the sign-in form carries a CSRF token (also set as a cookie);
// posting it with the password sets the session cookies and sends the browser back
// to the return address the verifier gave.
func ExampleService_Handler_browser() {
	dir, err := os.MkdirTemp("", "vexen-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "vexen.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	cfg := issue.DefaultConfig()
	cfg.KeysDir = filepath.Join(dir, "keys")
	cfg.AllowedRedirectHosts = []string{"app.example.com"}
	svc, err := issue.New(cfg, issue.Deps{Store: st, Registerer: prometheus.NewRegistry()})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.AddUser(ctx, "ada@example.com", "correct horse battery", nil); err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()

	// What the verifier's redirect leads to: the form, with rd.
	rd := "https://app.example.com/reports?q=1"
	resp, err := http.Get(srv.URL + "/login?rd=" + url.QueryEscape(rd))
	if err != nil {
		log.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page)[1]
	fmt.Println("form:", resp.StatusCode, resp.Header.Get("Content-Type"))

	// The browser posts the form back with the CSRF cookie.
	form := url.Values{"email": {"ada@example.com"}, "password": {"correct horse battery"}, "rd": {rd}, "csrf_token": {string(token)}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("sign-in:", resp.StatusCode, resp.Header.Get("Location"))
	for _, c := range resp.Cookies() {
		fmt.Println("cookie:", c.Name, "Path="+c.Path, "HttpOnly:", c.HttpOnly, "Max-Age:", c.MaxAge)
	}

	// Output:
	// form: 200 text/html; charset=utf-8
	// sign-in: 303 https://app.example.com/reports?q=1
	// cookie: vexen_access Path=/ HttpOnly: true Max-Age: 900
	// cookie: vexen_refresh Path=/login HttpOnly: true Max-Age: 2592000
	// cookie: vexen_refresh Path=/logout HttpOnly: true Max-Age: 2592000
}
