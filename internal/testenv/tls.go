package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a throwaway certificate authority for tests: it issues server and
// client certificates and writes them as PEM files.
type CA struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
	// File is the CA certificate as a PEM file (a client's or server's trust anchor).
	File string
}

// Pair is an issued certificate and its key, in memory and as PEM files.
type Pair struct {
	Cert              *x509.Certificate
	TLS               tls.Certificate
	CertFile, KeyFile string
}

// NewCA makes a CA valid for a day and writes its certificate into dir.
func NewCA(t testing.TB, dir, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Must(t, err, "CA key")
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	Must(t, err, "CA certificate")
	cert, err := x509.ParseCertificate(der)
	Must(t, err, "CA certificate")
	ca := &CA{Cert: cert, Key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.File = filepath.Join(dir, name+"-ca.pem")
	Must(t, os.WriteFile(ca.File, ca.CertPEM, 0o644), "write %s", ca.File)
	return ca
}

// Pool is a certificate pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Server issues a server certificate for 127.0.0.1, ::1, localhost and names,
// written as dir/file.crt and dir/file.key (mode 0600).
func (ca *CA) Server(t testing.TB, dir, file string, names ...string) Pair {
	t.Helper()
	return ca.issue(t, dir, file, x509.ExtKeyUsageServerAuth, append([]string{"localhost"}, names...))
}

// Client issues a client certificate with common name cn.
func (ca *CA) Client(t testing.TB, dir, file, cn string) Pair {
	t.Helper()
	return ca.issue(t, dir, file, x509.ExtKeyUsageClientAuth, []string{cn})
}

func (ca *CA) issue(t testing.TB, dir, file string, usage x509.ExtKeyUsage, names []string) Pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Must(t, err, "key")
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.DNSNames = names
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	Must(t, err, "certificate")
	cert, err := x509.ParseCertificate(der)
	Must(t, err, "certificate")
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	Must(t, err, "key")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	p := Pair{Cert: cert, CertFile: filepath.Join(dir, file+".crt"), KeyFile: filepath.Join(dir, file+".key")}
	p.TLS, err = tls.X509KeyPair(certPEM, keyPEM)
	Must(t, err, "key pair")
	Must(t, os.WriteFile(p.CertFile, certPEM, 0o644), "write %s", p.CertFile)
	Must(t, os.WriteFile(p.KeyFile, keyPEM, 0o600), "write %s", p.KeyFile)
	return p
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	Must(t, err, "serial")
	return n
}
