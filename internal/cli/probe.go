package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// probeTimeout bounds a health probe.
const probeTimeout = 3 * time.Second

// Probe is the `healthcheck` subcommand both programs have, for container health
// checks in images without a shell or curl: it GETs rawURL (default def) and
// succeeds on a 2xx answer. args holds at most the URL.
func Probe(ctx context.Context, args []string, def string, stdout io.Writer) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprintf(stdout, "Usage: healthcheck [URL]\n\nGET URL (default %s) and exit 0 when it answers 2xx, 1 otherwise\n(for container health checks in images without a shell or curl). No flags.\n", def)
		return nil
	}
	if len(args) > 1 {
		return Usage(fmt.Errorf("usage: healthcheck [URL] (default %s): exit 0 when URL answers 2xx", def))
	}
	raw := def
	if len(args) == 1 {
		raw = args[0]
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Usage(fmt.Errorf("healthcheck: %q is not an http(s) URL", raw))
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
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
