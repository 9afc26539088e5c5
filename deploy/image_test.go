package deploy

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/vexen/vexen-auth/deploy/image"
)

// TestImage builds the linux/amd64 binaries with scripts/release.sh, writes the
// image as an OCI layout, opens it again and checks its config (user, command, no
// entrypoint, ports, labels), its files (both binaries, CA bundle, no shell), and
// runs the verifier taken out of the layer with --version.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds release binaries")
	}
	root := repoRoot(t)
	dist := t.TempDir()
	const version = "v0.0.0-imagetest"
	run(t, root, []string{"DIST=" + dist, "RELEASE_TARGETS=linux/amd64", "VERSION=" + version, "COMMIT=feedface"}, "bash", "scripts/release.sh")

	out := filepath.Join(t.TempDir(), "image")
	digest, err := image.Write(out, image.Options{Dist: dist, Arches: []string{"amd64"}, Version: version, Commit: "feedface"})
	if err != nil {
		t.Fatal(err)
	}
	// Deterministic: the same inputs give the same digest.
	again, err := image.Write(filepath.Join(t.TempDir(), "image"), image.Options{Dist: dist, Arches: []string{"amd64"}, Version: version, Commit: "feedface"})
	if err != nil || again != digest {
		t.Errorf("second build: digest %v (%v), first %v", again, err, digest)
	}

	idx, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Platform == nil || im.Manifests[0].Platform.Architecture != "amd64" {
		t.Fatalf("index manifests %+v, want one linux/amd64", im.Manifests)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" || strings.HasPrefix(c.User, "0") || c.User == "" {
		t.Errorf("User %q, want 65532:65532 (not root)", c.User)
	}
	if len(c.Entrypoint) != 0 || !slices.Equal(c.Cmd, []string{"verifier"}) {
		t.Errorf("Entrypoint %q Cmd %q, want no entrypoint and the verifier as the command", c.Entrypoint, c.Cmd)
	}
	for _, p := range []string{"8080/tcp", "8081/tcp", "9090/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed: %v", p, c.ExposedPorts)
		}
	}
	if c.Labels["org.opencontainers.image.version"] != version || c.Labels["org.opencontainers.image.licenses"] != "Apache-2.0" {
		t.Errorf("labels %v", c.Labels)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}

	// The files, from the flattened filesystem.
	files := map[string]*tar.Header{}
	var verifier []byte
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := "/" + strings.TrimSuffix(h.Name, "/")
		files[name] = h
		if name == "/usr/local/bin/verifier" {
			if verifier, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, want := range []string{"/usr/local/bin/issuer", "/usr/local/bin/verifier", "/etc/ssl/certs/ca-certificates.crt", "/etc/passwd", "/var/lib/vexen-auth"} {
		if files[want] == nil {
			t.Errorf("image lacks %s", want)
		}
	}
	if h := files["/var/lib/vexen-auth"]; h != nil && (h.Uid != 65532 || h.Typeflag != tar.TypeDir) {
		t.Errorf("/var/lib/vexen-auth owned by %d, type %c", h.Uid, h.Typeflag)
	}
	for name := range files {
		base := filepath.Base(name)
		if slices.Contains([]string{"sh", "bash", "ash", "dash", "busybox", "apk", "apt", "dpkg"}, base) {
			t.Errorf("image contains %s: it must have no shell nor package manager", name)
		}
	}
	if len(files) > 20 {
		t.Errorf("image has %d entries, want only the few listed in package image", len(files))
	}
	bin := filepath.Join(t.TempDir(), "verifier")
	if err := os.WriteFile(bin, verifier, 0o755); err != nil {
		t.Fatal(err)
	}
	requireStatic(t, bin)
	got, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(got), "verifier "+version+" (commit feedface") {
		t.Errorf("verifier from the image: --version = %q, %v", got, err)
	}
	raw, _ := json.Marshal(c)
	t.Logf("digest %s, config %s", digest, raw)
}

// TestDockerfileMatchesImage: the Dockerfile (for users with Docker) and package
// image (make image) describe the same image.
func TestDockerfileMatchesImage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(b), " ")
	final := df[strings.LastIndex(df, "\nFROM "):]
	if !strings.HasPrefix(final, "\nFROM scratch") {
		t.Fatalf("the final stage is not FROM scratch: %.40q", final)
	}
	instr := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + ` (.*)$`).FindStringSubmatch(final)
		if m == nil {
			t.Errorf("Dockerfile final stage has no %s", name)
			return ""
		}
		return strings.TrimSpace(m[1])
	}
	if got := instr("USER"); got != image.User {
		t.Errorf("Dockerfile USER %q, image %q", got, image.User)
	}
	if got := instr("WORKDIR"); got != image.WorkDir {
		t.Errorf("Dockerfile WORKDIR %q, image %q", got, image.WorkDir)
	}
	if got := strings.Fields(instr("EXPOSE")); !slices.Equal(got, image.Ports) {
		t.Errorf("Dockerfile EXPOSE %q, image %q", got, image.Ports)
	}
	if got := strings.Fields(instr("ENV")); !slices.Equal(got, image.Env) {
		t.Errorf("Dockerfile ENV %q, image %q", got, image.Env)
	}
	cmd, _ := json.Marshal(image.Cmd)
	if got := instr("CMD"); got != string(cmd) {
		t.Errorf("Dockerfile CMD %s, image %s", got, cmd)
	}
	labels := instr("LABEL")
	for k, v := range image.Labels {
		if !strings.Contains(labels, k+`="`+v+`"`) {
			t.Errorf("Dockerfile LABEL lacks %s=%q", k, v)
		}
	}
	for _, p := range append([]string{image.CACerts, "/etc/passwd", image.WorkDir}, image.BinDir+"/") {
		if !strings.Contains(df, p) {
			t.Errorf("Dockerfile does not install %s", p)
		}
	}
	if !strings.Contains(final, "--chown=65532:65532") {
		t.Error("Dockerfile does not give the working directory to the nonroot user")
	}
}
