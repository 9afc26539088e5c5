package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vexen/vexen-auth/e2e"
)

// nginxPath is what the load generator asks nginx for: any path of the protected
// application.
const nginxPath = "/app/items/42"

// renderNginx writes the repository's nginx sample (nginx.conf, vexen-auth.conf,
// vexen-auth-headers.conf) into prefix/conf, with the addresses, ports and paths
// replaced as the e2e test does, plus two benchmark settings on both variants:
// one worker process (the server side has one core) and no access log (logging is
// the operator's choice and would add the same cost to both sides, hiding the
// difference). Without auth, the application's location gets "auth_request off;":
// the same nginx, the same config, no subrequest. authConf are replacements in
// vexen-auth.conf (the peers scenario points the subrequest at a peer).
func (h *harness) renderNginx(prefix, listen, verifierAddr, appAddr string, auth bool, authConf ...e2e.Replacement) error {
	for _, d := range []string{"", "conf", "logs", "temp"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			return err
		}
		if err := os.Chmod(filepath.Join(prefix, d), 0o755); err != nil {
			return err
		}
	}
	main := []e2e.Replacement{
		{Old: "worker_processes auto;", New: "worker_processes 1;"},
		{Old: "access_log /var/log/nginx/access.log;", New: "access_log off;"},
		{Old: "pid /run/nginx.pid;", New: "pid " + filepath.Join(prefix, "logs", "nginx.pid") + ";"},
		{Old: "/var/log/nginx/", New: filepath.Join(prefix, "logs") + "/"},
		{Old: "/var/lib/nginx/", New: filepath.Join(prefix, "temp") + "/"},
		{Old: "server 127.0.0.1:8081;", New: "server " + verifierAddr + ";"},
		{Old: "server 127.0.0.1:9000;", New: "server " + appAddr + ";"},
		{Old: "listen 80;", New: "listen " + listen + ";"},
	}
	if os.Geteuid() != 0 {
		main = append(main, e2e.Replacement{Old: "user www-data;", New: ""})
	}
	if !auth {
		main = append(main, e2e.Replacement{Old: "location / {", New: "location / {\n            auth_request off; # vexenbench: the baseline, without the subrequest"})
	}
	src := filepath.Join(h.o.repo, "nginx")
	files := map[string][]e2e.Replacement{"nginx.conf": main, "vexen-auth.conf": authConf, "vexen-auth-headers.conf": nil}
	for name, repl := range files {
		if err := e2e.RenderFile(filepath.Join(prefix, "conf", name), filepath.Join(src, name), repl...); err != nil {
			return err
		}
	}
	return nil
}

// startNginx renders the repository's sample and starts one nginx on it.
func (h *harness) startNginx(ctx context.Context, name, verifierAddr, appAddr string, auth bool, authConf ...e2e.Replacement) (*proc, string, error) {
	return h.runNginx(ctx, name, func(prefix, listen string) error {
		return h.renderNginx(prefix, listen, verifierAddr, appAddr, auth, authConf...)
	})
}

// runNginx starts nginx pinned to the server CPU on a prefix directory of its own
// (removed at the end of the run) whose conf/nginx.conf write puts there, listening
// on a free port, and waits until it accepts connections; a failure carries the end
// of its error.log.
func (h *harness) runNginx(ctx context.Context, name string, write func(prefix, listen string) error) (*proc, string, error) {
	bin, err := lookPath("nginx")
	if err != nil {
		return nil, "", err
	}
	prefix, err := os.MkdirTemp("", "vexenbench-"+name+"-")
	if err != nil {
		return nil, "", err
	}
	h.defer_(func() { os.RemoveAll(prefix) })
	listen, err := freePort()
	if err != nil {
		return nil, "", err
	}
	if err := write(prefix, listen); err != nil {
		return nil, "", err
	}
	p, err := h.start(name, h.o.serverCPU, nil, bin, "-p", prefix+"/", "-c", "conf/nginx.conf", "-e", "logs/error.log", "-g", "daemon off;")
	if err != nil {
		return nil, "", err
	}
	if err := waitTCP(ctx, p, listen, 10*time.Second); err != nil {
		b, _ := os.ReadFile(filepath.Join(prefix, "logs", "error.log"))
		return nil, "", fmt.Errorf("%w\nnginx error.log:\n%s", err, tail(string(b), 20))
	}
	return p, listen, nil
}

// yardstickConf is an nginx that answers every request 200 with the baseline's one
// header and does nothing else: a server faster than the bare net/http baseline,
// to show that the load generator (wrk and rotate.lua on the other core) can drive
// well above the baseline, so it is not what sets the baseline's pace.
const yardstickConf = `worker_processes 1;
pid {{prefix}}/logs/nginx.pid;
error_log {{prefix}}/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path {{prefix}}/temp/body;
    proxy_temp_path {{prefix}}/temp/proxy;
    fastcgi_temp_path {{prefix}}/temp/fastcgi;
    uwsgi_temp_path {{prefix}}/temp/uwsgi;
    scgi_temp_path {{prefix}}/temp/scgi;
    keepalive_requests 10000000;
    server {
        listen {{listen}};
        location / {
            add_header X-Auth-User baseline;
            return 200;
        }
    }
}
`

// startYardstick starts the yardstick nginx, pinned to the server CPU.
func (h *harness) startYardstick(ctx context.Context) (*proc, string, error) {
	return h.runNginx(ctx, "yardstick-nginx", func(prefix, listen string) error {
		for _, d := range []string{"conf", "logs", "temp"} {
			if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
				return err
			}
		}
		conf := strings.NewReplacer("{{prefix}}", prefix, "{{listen}}", listen).Replace(yardstickConf)
		return os.WriteFile(filepath.Join(prefix, "conf", "nginx.conf"), []byte(conf), 0o644)
	})
}

// nginxGroup: wrk → nginx (auth_request → cached verifier) → the bare app, against
// the same nginx with auth_request off. nginx, verifier and app share the server
// CPU; all three count in the server CPU column.
func (h *harness) nginxGroup(ctx context.Context, e *env, cached *verifier, app *proc, appAddr string) error {
	withAuth, authAddr, err := h.startNginx(ctx, "nginx-auth", cached.addr, appAddr, true)
	if err != nil {
		return err
	}
	plain, plainAddr, err := h.startNginx(ctx, "nginx-plain", cached.addr, appAddr, false)
	if err != nil {
		return err
	}
	subj := &subject{name: "nginx", what: "nginx auth_request → verifier (cached)",
		t:      target{name: "nginx + verifier", addr: authAddr, path: nginxPath, pids: []int{withAuth.pid(), cached.p.pid(), app.pid()}, metrics: "http://" + cached.addr + "/metrics"},
		tokens: func(int) string { return e.tokenFile }, goal: 0.6}
	base := target{name: "nginx, auth_request off", addr: plainAddr, path: nginxPath, pids: []int{plain.pid(), app.pid()}}
	baseRuns, err := h.group(ctx, "nginx", h.wrkRunner, base, e.tokenFile, []*subject{subj})
	if err != nil {
		return err
	}
	if err := h.addScenarios("nginx, auth_request off", baseRuns, []*subject{subj}); err != nil {
		return err
	}
	withAuth.stop()
	plain.stop()
	return nil
}

// startBaseline starts one of the harness's own servers (vexenbench serve-http or
// serve-grpc, with args) on a free port, pinned to the server CPU, and waits until
// it accepts connections.
func (h *harness) startBaseline(ctx context.Context, name string, env []string, cmd string, args ...string) (*proc, string, error) {
	addr, err := freePort()
	if err != nil {
		return nil, "", err
	}
	argv := append([]string{h.bins.self, cmd, "-listen", addr}, args...)
	p, err := h.start(name, h.o.serverCPU, env, argv...)
	if err != nil {
		return nil, "", err
	}
	if err := waitTCP(ctx, p, addr, 10*time.Second); err != nil {
		return nil, "", err
	}
	return p, addr, nil
}

// grpcGroup: the harness's grpc-load against the cached verifier's ext_authz
// server, and against a bare ext_authz server answering OK.
func (h *harness) grpcGroup(ctx context.Context, e *env, cached *verifier) error {
	bare, addr, err := h.startBaseline(ctx, "baseline-grpc", nil, "serve-grpc")
	if err != nil {
		return err
	}
	subj := &subject{name: "grpc", what: "ext_authz gRPC → verifier (cached)",
		t:      target{name: "verifier ext_authz", addr: cached.grpcAddr, pids: []int{cached.p.pid()}, metrics: "http://" + cached.addr + "/metrics"},
		tokens: func(int) string { return e.tokenFile }}
	base := target{name: "bare ext_authz", addr: addr, pids: []int{bare.pid()}}
	baseRuns, err := h.group(ctx, "grpc", h.grpcRunner, base, e.tokenFile, []*subject{subj})
	if err != nil {
		return err
	}
	if err := h.addScenarios("bare gRPC ext_authz", baseRuns, []*subject{subj}); err != nil {
		return err
	}
	bare.stop()
	return nil
}

// profiles takes a CPU profile of the bare net/http baseline and of a verifier
// (built with the pprof overlay) under cached and under redis load, one extra
// unrecorded run each, and writes the profiles and `go tool pprof -top` of each
// into -profile; the report compares them (Report.Profiles).
func (h *harness) profiles(ctx context.Context, e *env) error {
	goBin, err := lookPath("go")
	if err != nil {
		return err
	}
	for _, sc := range []struct {
		name, server string
		extra        []string
	}{{"bare", "bare net/http", nil}, {"cached", "verifier (cached)", nil}, {"redis", "verifier (redis)", []string{"--no-local-cache"}}} {
		paddr, err := freePort()
		if err != nil {
			return err
		}
		env := []string{"VEXENBENCH_PPROF_LISTEN=" + paddr}
		var t target
		var stop func()
		bin := h.bins.verifierProf
		if sc.name == "bare" {
			bin = h.bins.self
			p, addr, err := h.startBaseline(ctx, "baseline-pprof", env, "serve-http")
			if err != nil {
				return err
			}
			t, stop = target{name: "profile bare", addr: addr, path: "/auth", pids: []int{p.pid()}}, p.stop
		} else {
			v, err := h.startVerifier(ctx, "verifier-pprof-"+sc.name, h.o.serverCPU, bin, env, false, h.verifierArgs(e, sc.extra...)...)
			if err != nil {
				return err
			}
			if err := h.touch(ctx, v.addr, e.tokens); err != nil {
				return err
			}
			t, stop = v.target("profile "+sc.name, "/auth"), v.p.stop
		}
		secs := max(int(h.o.duration.Seconds())-2, 1)
		profFile := filepath.Join(h.o.profile, sc.name+".pprof")
		done := make(chan error, 1)
		go func() {
			// A second in, when wrk has read its tokens and the load is steady.
			select {
			case <-ctx.Done():
				done <- ctx.Err()
				return
			case <-time.After(time.Second):
			}
			done <- fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", paddr, secs), profFile)
		}()
		if _, err := h.wrkRunner(ctx, t, e.tokenFile, h.o.duration); err != nil {
			return err
		}
		if err := <-done; err != nil {
			return err
		}
		top, err := runCmd(ctx, "", nil, goBin, "tool", "pprof", "-top", "-nodecount=100000", bin, profFile)
		if err != nil {
			return err
		}
		topFile := filepath.Join(h.o.profile, sc.name+"-top.txt")
		if err := os.WriteFile(topFile, []byte(top), 0o644); err != nil {
			return err
		}
		prof, err := parsePprofTop(sc.server, top)
		if err != nil {
			return err
		}
		if len(prof.Top) == 0 {
			return fmt.Errorf("the CPU profile of %s under load has no samples (%s)", sc.server, profFile)
		}
		if prof.Shares, err = profileShares(ctx, goBin, bin, profFile); err != nil {
			return err
		}
		h.rep.Profiles = append(h.rep.Profiles, prof)
		h.logf("profile of %s under load: %s (top: %s)", sc.server, profFile, topFile)
		stop()
	}
	return nil
}

func fetch(ctx context.Context, url, dst string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s: %s %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
