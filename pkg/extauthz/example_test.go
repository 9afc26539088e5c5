package extauthz_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vexen/vexen-auth/pkg/extauthz"
	"github.com/vexen/vexen-auth/pkg/verify"
)

// deciderFunc adapts a function to verify.Decider. The verifier passes its real
// decision core instead.
type deciderFunc func(context.Context, *verify.Request) (verify.Decision, error)

func (f deciderFunc) Decide(ctx context.Context, r *verify.Request) (verify.Decision, error) {
	return f(ctx, r)
}

// Serve the ext_authz service on a listener, as the verifier does for
// --grpc-listen, and ask it what Envoy would ask.
func Example() {
	decider := deciderFunc(func(_ context.Context, r *verify.Request) (verify.Decision, error) {
		switch {
		case r.Source == verify.SourceNone:
			return verify.Decision{Status: 401, Reason: verify.ReasonNoToken}, nil
		case r.Token != "valid.access.token":
			return verify.Decision{Status: 401, Reason: verify.ReasonSignature}, nil
		}
		return verify.Decision{Allow: true, Status: 200, Identity: &verify.Identity{
			UserID: "u-42", Email: "ada@example.com", SessionID: "s-7",
		}}, nil
	})

	srv := extauthz.New(decider, extauthz.Options{Logger: slog.New(slog.DiscardHandler)})
	g := extauthz.NewGRPCServer()
	srv.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go g.Serve(lis)
	defer g.Stop()

	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
	client := authv3.NewAuthorizationClient(cc)

	for _, authorization := range []string{"Bearer valid.access.token", "Bearer forged.access.token", ""} {
		req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "GET", Host: "app.example.com", Path: "/reports", Scheme: "https",
				Headers: map[string]string{"authorization": authorization, "x-auth-user": "forged"},
			}},
		}}
		resp, err := client.Check(context.Background(), req)
		if err != nil {
			log.Fatal(err)
		}
		if ok := resp.GetOkResponse(); ok != nil {
			for _, h := range ok.GetHeaders() {
				fmt.Printf("set %s: %s\n", h.GetHeader().GetKey(), h.GetHeader().GetValue())
			}
			fmt.Println("remove", ok.GetHeadersToRemove())
			continue
		}
		d := resp.GetDeniedResponse()
		for _, h := range d.GetHeaders() {
			if h.GetHeader().GetKey() == "www-authenticate" {
				fmt.Printf("%d %s\n", d.GetStatus().GetCode(), h.GetHeader().GetValue())
			}
		}
	}
	// Output:
	// set x-auth-user: u-42
	// set x-auth-email: ada@example.com
	// set x-auth-session: s-7
	// remove [x-auth-roles x-auth-amr]
	// 401 Bearer realm="vexen", error="invalid_token"
	// 401 Bearer realm="vexen"
}
