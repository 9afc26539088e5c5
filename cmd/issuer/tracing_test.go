package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/vexen/vexen-auth/internal/testenv"
)

// TestTracingServe: `issuer serve` with OTEL_* set sends one server span per
// request, named after the endpoint, child of the caller's traceparent, with
// the status; no password, email or token in any attribute; Close flushes.
func TestTracingServe(t *testing.T) {
	rcv := testenv.StartOTLP(t)
	c := newCLI(t)
	if code, _, errs := c.run("s3cret-password\n", "user", "add", "--email", "carol@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	if n := rcv.Requests(); n != 0 {
		t.Fatalf("an admin command without OTEL_* sent %d export requests", n)
	}
	c.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = rcv.HTTPEndpoint()
	c.env["OTEL_SERVICE_NAME"] = "issuer-under-test"
	m := NewMain()
	s := m.flags("issuer", func(k string) string { return c.env[k] })
	testenv.Must(t, s.Parse([]string{"--listen", "127.0.0.1:0", "--metrics-listen", ""}), "parse")
	testenv.Must(t, m.validate(), "validate")
	m.Stdout, m.Stderr = &testenv.Buffer{}, &testenv.Buffer{}
	testenv.Must(t, m.Run(context.Background()), "run")
	defer m.Close()

	base := "http://" + m.Addr()
	const traceID, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	post := func(path, body string) int {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Traceparent", "00-"+traceID+"-"+parent+"-01")
		resp, err := http.DefaultClient.Do(req)
		testenv.Must(t, err, "POST %s", path)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/v1/login", `{"email":"carol@example.com","password":"s3cret-password"}`); code != 200 {
		t.Fatalf("login: %d", code)
	}
	if code := post("/v1/login", `{"email":"carol@example.com","password":"wrong-password"}`); code != 401 {
		t.Fatalf("bad login: %d", code)
	}
	if code := post("/nope/secret-path", `{}`); code != 404 {
		t.Fatalf("unknown path: %d", code)
	}
	testenv.Must(t, m.Close(), "close")

	spans := rcv.Spans()
	want := []struct{ name, status, route string }{
		{"issuer.login", "200", "/v1/login"},
		{"issuer.login", "401", "/v1/login"},
		{"issuer.not_found", "404", ""},
	}
	if len(spans) != len(want) {
		t.Fatalf("%d spans, want %d: %+v", len(spans), len(want), spans)
	}
	for i, w := range want {
		sp := spans[i]
		if sp.Name != w.name || sp.Attrs["http.response.status_code"] != w.status || sp.Attrs["http.route"] != w.route ||
			sp.TraceID != traceID || sp.ParentSpanID != parent || sp.Kind != "server" || sp.Service != "issuer-under-test" ||
			sp.StatusCode != "unset" {
			t.Errorf("span %d: %+v; want %s %s route %q, child of the traceparent", i, sp, w.name, w.status, w.route)
		}
		for k, v := range sp.Attrs {
			for _, secret := range []string{"password", "carol", "secret-path", "eyJ"} {
				if strings.Contains(v, secret) {
					t.Errorf("span %s attribute %s = %q", sp.Name, k, v)
				}
			}
		}
	}
}

// TestTracingBadConfig: a bad OTEL_* value is one line and exit 2.
func TestTracingBadConfig(t *testing.T) {
	c := newCLI(t)
	c.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4318"
	c.env["OTEL_TRACES_SAMPLER"] = "sometimes"
	code, _, errs := c.run("", "serve", "--listen", "127.0.0.1:0")
	if msg := strings.TrimSpace(errs); code != 2 || strings.Contains(msg, "\n") || !strings.Contains(msg, "OTEL_TRACES_SAMPLER") {
		t.Fatalf("exit %d, stderr %q; want exit 2 and one line naming OTEL_TRACES_SAMPLER", code, msg)
	}
}
