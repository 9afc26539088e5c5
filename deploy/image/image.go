// Package image builds vexen-auth's container image without a Docker daemon, with
// go-containerregistry: an OCI image index (linux/amd64, linux/arm64) over images
// of one layer each, holding
//
//	/etc/ssl/certs/ca-certificates.crt   the build host's CA bundle
//	/etc/passwd, /etc/group              the nonroot user (65532)
//	/usr/local/bin/issuer, verifier      the static release binaries
//	/var/lib/vexen-auth/                 the working directory, owned by 65532
//
// and nothing else: no shell, no package manager. The repository's Dockerfile
// builds the same content for those with Docker; deploy/image_test.go checks that
// the two agree on user, paths, ports, environment, labels and command.
//
// The layer is deterministic (sorted entries, fixed owner and time), so one set of
// binaries and one creation time give one image digest.
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What the image is; the Dockerfile states the same.
const (
	User    = "65532:65532"
	UID     = 65532
	WorkDir = "/var/lib/vexen-auth"
	BinDir  = "/usr/local/bin"
	CACerts = "/etc/ssl/certs/ca-certificates.crt"
)

var (
	// Programs are the binaries in BinDir; the default command runs the last.
	Programs = []string{"issuer", "verifier"}
	// Cmd is the default command: the verifier (run `issuer serve` for the issuer).
	Cmd = []string{"verifier"}
	// Ports: issuer HTTP, verifier HTTP, metrics (--metrics-listen).
	Ports = []string{"8080/tcp", "8081/tcp", "9090/tcp"}
	// Env is the image's environment.
	Env = []string{"PATH=" + BinDir, "SSL_CERT_FILE=" + CACerts}
	// Labels are the fixed OCI labels; Build adds version and revision.
	Labels = map[string]string{
		"org.opencontainers.image.title":       "vexen-auth",
		"org.opencontainers.image.description": "Forward authentication for reverse proxies: issuer and verifier",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.source":      "https://github.com/vexen/vexen-auth",
	}
)

// Options say what to build from.
type Options struct {
	Dist    string    // directory with PROGRAM-linux-ARCH binaries (scripts/release.sh output)
	Arches  []string  // GOARCH values; default amd64 and arm64
	CACerts string    // CA bundle to copy in; default /etc/ssl/certs/ca-certificates.crt
	Version string    // org.opencontainers.image.version
	Commit  string    // org.opencontainers.image.revision
	Created time.Time // image and file times; zero: the Unix epoch (reproducible)
}

// Build returns the multi-platform image index.
func Build(o Options) (v1.ImageIndex, error) {
	if len(o.Arches) == 0 {
		o.Arches = []string{"amd64", "arm64"}
	}
	if o.CACerts == "" {
		o.CACerts = CACerts
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0)
	}
	o.Created = o.Created.UTC()
	certs, err := os.ReadFile(o.CACerts)
	if err != nil {
		return nil, fmt.Errorf("image: CA certificates: %w", err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range o.Arches {
		img, err := buildArch(o, arch, certs)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	return idx, nil
}

// Write builds the index and writes it as an OCI image layout at dir.
func Write(dir string, o Options) (v1.Hash, error) {
	idx, err := Build(o)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return v1.Hash{}, err
	}
	if _, err := layout.Write(dir, idx); err != nil {
		return v1.Hash{}, fmt.Errorf("image: write layout: %w", err)
	}
	return idx.Digest()
}

func buildArch(o Options, arch string, certs []byte) (v1.Image, error) {
	files := []file{
		{name: "etc/", dir: true},
		{name: "etc/group", body: []byte("nonroot:x:65532:\n")},
		{name: "etc/passwd", body: []byte("nonroot:x:65532:65532:nonroot:" + WorkDir + ":/sbin/nologin\n")},
		{name: "etc/ssl/", dir: true},
		{name: "etc/ssl/certs/", dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", body: certs},
		{name: "usr/", dir: true},
		{name: "usr/local/", dir: true},
		{name: "usr/local/bin/", dir: true},
	}
	for _, p := range Programs {
		b, err := os.ReadFile(filepath.Join(o.Dist, p+"-linux-"+arch))
		if err != nil {
			return nil, fmt.Errorf("image: %w (run scripts/release.sh first)", err)
		}
		files = append(files, file{name: "usr/local/bin/" + p, body: b, exec: true})
	}
	files = append(files, file{name: "var/", dir: true}, file{name: "var/lib/", dir: true},
		file{name: "var/lib/vexen-auth/", dir: true, owner: UID})

	var buf bytes.Buffer
	if err := writeTar(&buf, files, o.Created); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: o.Created}, CreatedBy: "vexen-auth deploy/image", Comment: "static binaries, CA certificates, nonroot user",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: o.Created}
	labels := map[string]string{
		"org.opencontainers.image.version":  o.Version,
		"org.opencontainers.image.revision": o.Commit,
		"org.opencontainers.image.created":  o.Created.Format(time.RFC3339),
	}
	for k, v := range Labels {
		labels[k] = v
	}
	ports := map[string]struct{}{}
	for _, p := range Ports {
		ports[p] = struct{}{}
	}
	cf.Config = v1.Config{
		User:         User,
		WorkingDir:   WorkDir,
		Env:          append([]string(nil), Env...),
		Cmd:          append([]string(nil), Cmd...),
		ExposedPorts: ports,
		Labels:       labels,
	}
	return mutate.ConfigFile(img, cf)
}

type file struct {
	name  string
	body  []byte
	dir   bool
	exec  bool
	owner int
}

// writeTar writes files (already in order, parents first) with fixed times.
func writeTar(w io.Writer, files []file, mtime time.Time) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		h := &tar.Header{Name: f.name, ModTime: mtime, Uid: f.owner, Gid: f.owner, Format: tar.FormatPAX}
		switch {
		case f.dir:
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case f.exec:
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o755, int64(len(f.body))
		default:
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(f.body); err != nil {
			return err
		}
	}
	return tw.Close()
}
