package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vexen/vexen-auth/bench/grpcbench"
	"github.com/vexen/vexen-auth/bench/load"
	"github.com/vexen/vexen-auth/bench/tokens"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("vexenbench: ")
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "run":
		err = runMain(ctx, args)
	case "serve-http":
		err = serveHTTP(ctx, args)
	case "serve-grpc":
		err = serveGRPC(ctx, args)
	case "openloop":
		err = openLoopMain(ctx, args)
	case "grpc-load":
		err = grpcLoadMain(ctx, args)
	case "redis-capacity":
		err = redisCapacityMain(ctx, args)
	default:
		err = fmt.Errorf("unknown command %q (want run, serve-http, serve-grpc, openloop, grpc-load, redis-capacity)", cmd)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		log.Print(err)
		os.Exit(1)
	}
}

// serveHTTP runs the bare net/http baseline until interrupted.
func serveHTTP(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve-http", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9000", "address to listen on")
	verifyKey := fs.String("verify-key", "", "PEM public key (P-256 or Ed25519): verify each request's bearer token's signature with it (ES256 or EdDSA)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	h := load.Baseline()
	if *verifyKey != "" {
		pub, err := readPublicKey(*verifyKey)
		if err != nil {
			return err
		}
		alg, err := load.ParseVerifyAlg(pub)
		if err != nil {
			return err
		}
		h = load.VerifyingBaseline(alg, pub)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := load.NewBaselineServer(h, log.Default())
	servePprof()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// servePprof serves net/http/pprof on $VEXENBENCH_PPROF_LISTEN when it is set
// (the run's -profile takes the baseline's CPU profile through it).
func servePprof() {
	addr := os.Getenv("VEXENBENCH_PPROF_LISTEN")
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { log.Print(srv.ListenAndServe()) }()
}

// serveGRPC runs the bare ext_authz baseline until interrupted.
func serveGRPC(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve-grpc", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9001", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := grpcbench.NewBaselineServer()
	go func() {
		<-ctx.Done()
		srv.GracefulStop()
	}()
	return srv.Serve(ln)
}

// openLoopMain runs load.OpenLoop and prints its result as JSON.
func openLoopMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("openloop", flag.ContinueOnError)
	addr := fs.String("addr", "", "host:port of the server")
	path := fs.String("path", "/auth", "request path")
	file := fs.String("tokens", "", "token file, one per line")
	rate := fs.Float64("rate", 0, "requests per second")
	dur := fs.Duration("duration", 10*time.Second, "how long")
	conns := fs.Int("conns", 64, "connections")
	if err := fs.Parse(args); err != nil {
		return err
	}
	toks, err := tokens.ReadFile(*file)
	if err != nil {
		return err
	}
	res, err := load.OpenLoop(ctx, load.OpenLoopOptions{
		Addr: *addr, Requests: load.BearerRequests(*addr, *path, toks), Rate: *rate, Duration: *dur, Conns: *conns,
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// grpcLoadMain runs grpcbench.Load and prints its result as JSON (also when calls
// failed: the failures are in the result).
func grpcLoadMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("grpc-load", flag.ContinueOnError)
	target := fs.String("target", "", "host:port of the Authorization server")
	file := fs.String("tokens", "", "token file, one per line")
	dur := fs.Duration("duration", 10*time.Second, "how long")
	conns := fs.Int("conns", 2, "HTTP/2 connections")
	conc := fs.Int("concurrency", 64, "concurrent callers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	toks, err := tokens.ReadFile(*file)
	if err != nil {
		return err
	}
	run, err := grpcbench.Load(ctx, grpcbench.LoadOptions{Target: *target, Tokens: toks, Duration: *dur, Conns: *conns, Concurrency: *conc})
	if err != nil && run.Requests == 0 {
		return err
	}
	if err != nil {
		log.Print(err)
	}
	return json.NewEncoder(os.Stdout).Encode(run)
}

// readPublicKey reads a PEM "PUBLIC KEY" (PKIX) file.
func readPublicKey(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: not PEM", path)
	}
	return x509.ParsePKIXPublicKey(blk.Bytes)
}

// writePublicKey writes pub as a PEM "PUBLIC KEY" (PKIX) file.
func writePublicKey(path string, pub any) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
}
