package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/vexen/vexen-auth/pkg/config"
)

// probeTimeout bounds a health probe.
const probeTimeout = 3 * time.Second

// ProbeOptions are the TLS settings of a health probe against an https:// URL.
type ProbeOptions struct {
	CAFile   string // PEM CA bundle that signed the server's certificate; "" = the system's roots
	CertFile string // PEM client certificate, for a listener with --tls-client-ca
	KeyFile  string // PEM private key of CertFile
}

// tlsConfig loads the files of o: nil when none is set (Go's defaults).
func (o ProbeOptions) tlsConfig() (*tls.Config, error) {
	switch {
	case o.CertFile != "" && o.KeyFile == "":
		return nil, config.Invalid("--key", "--cert is set but --key is not")
	case o.KeyFile != "" && o.CertFile == "":
		return nil, config.Invalid("--cert", "--key is set but --cert is not")
	case o.CAFile == "" && o.CertFile == "":
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, config.Invalid("--cacert", "%v", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, config.Invalid("--cacert", "%s holds no PEM certificate", o.CAFile)
		}
	}
	if o.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, config.Invalid("--cert", "%v", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

const probeUsage = `Usage: healthcheck [URL]
       healthcheck [--cacert CA.pem] [--cert CLIENT.pem --key CLIENT-KEY.pem] https://HOST:PORT/readyz

GET URL (default %s) and exit 0 when it answers 2xx, 1 otherwise, 2 on a bad
URL or flag (for container health checks in images without a shell or curl).
Against a listener with --tls-client-ca, give a client certificate its CA signed.

Flags:
`

// Probe is the `healthcheck` subcommand both programs have, for container health
// checks in images without a shell or curl: it GETs the URL (default def) and
// succeeds on a 2xx answer. args are the flags (--cacert, --cert, --key) and at
// most the URL.
func Probe(ctx context.Context, args []string, def string, stdout io.Writer) error {
	var o ProbeOptions
	s := config.New("healthcheck", func(string) string { return "" })
	s.String(&o.CAFile, "cacert", "", "PEM CA bundle that signed the server's certificate (https); default: the system's roots")
	s.String(&o.CertFile, "cert", "", "PEM client certificate, for a listener with --tls-client-ca")
	s.String(&o.KeyFile, "key", "", "PEM private key of --cert")
	if err := s.Parse(args); err != nil {
		if errors.Is(err, config.ErrHelp) {
			fmt.Fprintf(stdout, probeUsage, def)
			s.PrintDefaults(stdout)
			return nil
		}
		return Usage(fmt.Errorf("healthcheck: %w", err))
	}
	rest := s.Args()
	if len(rest) > 1 {
		return Usage(fmt.Errorf("usage: healthcheck [--cacert FILE] [--cert FILE --key FILE] [URL] (default %s): exit 0 when URL answers 2xx", def))
	}
	raw := def
	if len(rest) == 1 {
		raw = rest[0]
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Usage(fmt.Errorf("healthcheck: %q is not an http(s) URL", raw))
	}
	tlsCfg, err := o.tlsConfig()
	if err != nil {
		return Usage(fmt.Errorf("healthcheck: %w", err))
	}
	if tlsCfg != nil && u.Scheme != "https" {
		return Usage(fmt.Errorf("healthcheck: --cacert and --cert need an https:// URL, not %s", u.Redacted()))
	}
	client := http.DefaultClient
	if tlsCfg != nil {
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}}
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("healthcheck: %s answered %d", u.Redacted(), resp.StatusCode)
	}
	fmt.Fprintf(stdout, "%s: %d\n", u.Redacted(), resp.StatusCode)
	return nil
}
