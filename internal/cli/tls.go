package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vexen/vexen-auth/pkg/config"
)

// TLSOptions are a listener's TLS settings. Without CertFile and KeyFile the
// listener speaks plain TCP.
type TLSOptions struct {
	CertFile, KeyFile string // PEM; reloaded when either file changes
	// ClientCAFile, when set, is a PEM bundle of the CAs whose client certificates
	// are accepted: a client without one is refused during the handshake.
	ClientCAFile string
}

// Enabled reports whether the listener serves TLS.
func (o TLSOptions) Enabled() bool { return o.CertFile != "" || o.KeyFile != "" }

// Validate checks that the settings go together, without reading the files.
func (o TLSOptions) Validate() error {
	switch {
	case o.CertFile != "" && o.KeyFile == "":
		return config.Invalid("TLS_KEY", "--tls-cert is set but --tls-key is not")
	case o.KeyFile != "" && o.CertFile == "":
		return config.Invalid("TLS_CERT", "--tls-key is set but --tls-cert is not")
	case o.ClientCAFile != "" && !o.Enabled():
		return config.Invalid("TLS_CLIENT_CA", "needs --tls-cert and --tls-key")
	}
	return nil
}

// certCheckInterval bounds how often a handshake looks at the files: at most one
// pair of stat calls per second, whatever the connection rate. (A variable for
// the tests.)
var certCheckInterval = time.Second

// CertReloader serves a certificate pair from two PEM files and reads them again
// when either changes (modification time, size or the file itself, as when a
// Kubernetes secret's symlink is swapped). The check runs on a handshake, at most
// once per second; a new pair is served from the next new connection on, and
// connections already open keep theirs. A pair that does not load (half
// written, key and certificate not matching) leaves the current one in force and
// is logged as an error; it is tried again when the files change again.
type CertReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	interval          time.Duration

	cur       atomic.Pointer[tls.Certificate]
	nextCheck atomic.Int64 // unix nanoseconds
	mu        sync.Mutex   // one reload at a time
	certStat  os.FileInfo
	keyStat   os.FileInfo
}

// NewCertReloader loads the pair once; an error here is a start-up failure.
func NewCertReloader(certFile, keyFile string, log *slog.Logger) (*CertReloader, error) {
	r := &CertReloader{certFile: certFile, keyFile: keyFile, log: log, interval: certCheckInterval}
	cs, ks, err := r.stat()
	if err != nil {
		return nil, err
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS_CERT/TLS_KEY: %w", err)
	}
	r.cur.Store(&c)
	r.certStat, r.keyStat = cs, ks
	r.nextCheck.Store(time.Now().Add(r.interval).UnixNano())
	return r, nil
}

func (r *CertReloader) stat() (cert, key os.FileInfo, err error) {
	if cert, err = os.Stat(r.certFile); err != nil {
		return nil, nil, fmt.Errorf("TLS_CERT: %w", err)
	}
	if key, err = os.Stat(r.keyFile); err != nil {
		return nil, nil, fmt.Errorf("TLS_KEY: %w", err)
	}
	return cert, key, nil
}

// GetCertificate is for tls.Config: the current pair, after a rate-limited check
// of the files.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now, next := time.Now().UnixNano(), r.nextCheck.Load()
	if now >= next && r.nextCheck.CompareAndSwap(next, now+int64(r.interval)) {
		r.check() // one handshake checks; the others go on with the current pair
	}
	return r.cur.Load(), nil
}

// Current is the pair being served.
func (r *CertReloader) Current() *tls.Certificate { return r.cur.Load() }

// check loads the pair again when a file changed since the last attempt.
func (r *CertReloader) check() {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs, ks, err := r.stat()
	if err != nil {
		r.log.Error("TLS certificate not reloaded: the current one stays in force", "err", err)
		return
	}
	if same(cs, r.certStat) && same(ks, r.keyStat) {
		return
	}
	r.certStat, r.keyStat = cs, ks // a bad pair is not read again until it changes
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.log.Error("TLS certificate not reloaded: the current one stays in force",
			"cert", r.certFile, "key", r.keyFile, "err", err)
		return
	}
	r.cur.Store(&c)
	attrs := []any{"cert", r.certFile}
	if leaf := c.Leaf; leaf != nil {
		attrs = append(attrs, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	}
	r.log.Info("TLS certificate reloaded", attrs...)
}

func same(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// ServerTLS builds the tls.Config of a listener (nil when o is not Enabled):
// TLS 1.2 at least, the certificate from a CertReloader and, with ClientCAFile,
// client certificates required and verified against those CAs. Each server takes
// its own Clone (net/http and gRPC add their ALPN protocols to the config they
// hold); the clones share the one CertReloader.
func ServerTLS(o TLSOptions, log *slog.Logger) (*tls.Config, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if !o.Enabled() {
		return nil, nil
	}
	r, err := NewCertReloader(o.CertFile, o.KeyFile, log)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
	if o.ClientCAFile != "" {
		b, err := os.ReadFile(o.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS_CLIENT_CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, errors.New("TLS_CLIENT_CA: " + o.ClientCAFile + ": no PEM certificate")
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// WithoutClientAuth is cfg (same certificate) asking no client certificate, for a
// listener the proxies do not call, such as metrics; nil stays nil.
func WithoutClientAuth(cfg *tls.Config) *tls.Config {
	if cfg == nil {
		return nil
	}
	c := cfg.Clone()
	c.ClientAuth, c.ClientCAs = tls.NoClientCert, nil
	return c
}
