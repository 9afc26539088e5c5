package extauthz

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/vexen/vexen-auth/pkg/hostlist"
	"github.com/vexen/vexen-auth/pkg/verify"
)

// redirector builds the login redirect of browser mode.
type redirector struct {
	login string // Options.LoginURL
	param string // query parameter for the return URL
	hosts hostlist.List
}

func newRedirector(o Options) (*redirector, error) {
	if o.LoginURL == "" {
		return nil, nil
	}
	u, err := url.Parse(o.LoginURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadLoginURL, err)
	}
	switch {
	case u.Scheme == "http" || u.Scheme == "https":
		if u.Host == "" {
			return nil, fmt.Errorf("%w: %q has no host", ErrBadLoginURL, o.LoginURL)
		}
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(o.LoginURL, "//"):
		// A path on the application's own host, served by the issuer behind the same proxy.
	default:
		return nil, fmt.Errorf("%w: %q is neither an http(s) URL nor an absolute path", ErrBadLoginURL, o.LoginURL)
	}
	if u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%w: %q has a fragment or user info", ErrBadLoginURL, o.LoginURL)
	}
	allowed := o.AllowedRedirectHosts
	if len(allowed) == 0 && u.Hostname() != "" {
		allowed = []string{u.Hostname()}
	}
	hosts, err := hostlist.Parse(allowed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRedirectHost, err)
	}
	param := o.RedirectParam
	if param == "" {
		param = "rd"
	}
	return &redirector{login: o.LoginURL, param: param, hosts: hosts}, nil
}

// location returns the login URL, with the original request as return URL when its
// host is on the allowlist. scheme, authority and path are what Envoy reported; the
// return URL is built and checked exactly as the HTTP endpoint does it.
// With mfa, the login page is asked for a second factor, as the HTTP endpoint does.
func (r *redirector) location(scheme, authority, path string, mfa bool) string {
	login := r.login
	if mfa {
		login = hostlist.AddReturn(login, verify.LoginMFAParam, "1")
	}
	ret, ok := r.hosts.ReturnURL(scheme, authority, path)
	if !ok {
		return login
	}
	return hostlist.AddReturn(login, r.param, ret)
}
