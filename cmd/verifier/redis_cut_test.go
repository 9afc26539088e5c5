package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/issue"
	"github.com/vexen/vexen-auth/pkg/store"
)

// TestRevocationHoldsWhenIssuerRedisFails is issue 9's first regression: the
// issuer's connection to Redis is cut (the verifiers still reach Redis) while a
// session is revoked by logout, logout-all, user disable, refresh-token reuse, or
// by the admin commands run without REDIS_URL. Redis keeps the session's
// access_token:{h} claims and gets no revoked:{h} and no event. Then:
//   - verifiers started after the revocation refuse the token from their first
//     answer, in push and strict mode, over HTTP and gRPC;
//   - a push verifier started before it refuses it within --max-staleness;
//   - once the issuer reaches Redis again, its repair job writes revoked:{h} from
//     the store's log.
//
// On SQLite and on PostgreSQL.
func TestRevocationHoldsWhenIssuerRedisFails(t *testing.T) {
	backends := []struct {
		name string
		url  func(t testing.TB) string
	}{
		{"sqlite", testenv.SQLiteURL},
		{"postgres", testenv.PostgresURL},
	}
	actions := []struct {
		name   string
		revoke func(t *testing.T, s *stack, p pair)
	}{
		{"logout", func(t *testing.T, s *stack, p pair) {
			if code, body := s.post("/v1/logout", "", map[string]string{"refresh_token": p.RefreshToken}); code != 204 {
				t.Fatalf("logout: %d %s", code, body)
			}
		}},
		{"logout-all", func(t *testing.T, s *stack, p pair) {
			if code, body := s.post("/v1/logout-all", p.AccessToken, nil); code != 204 {
				t.Fatalf("logout-all: %d %s", code, body)
			}
		}},
		{"disable", func(t *testing.T, s *stack, _ pair) {
			testenv.Must(t, s.svc.DisableUser(context.Background(), "alice@example.com"), "disable")
		}},
		{"refresh-reuse", func(t *testing.T, s *stack, p pair) {
			if code, body := s.post("/v1/refresh", "", map[string]string{"refresh_token": p.RefreshToken}); code != 200 {
				t.Fatalf("first refresh: %d %s", code, body)
			}
			if code, _ := s.post("/v1/refresh", "", map[string]string{"refresh_token": p.RefreshToken}); code != 401 {
				t.Fatalf("replayed refresh: %d, want 401", code)
			}
		}},
		{"cli-sessions-revoke-without-redis", func(t *testing.T, s *stack, _ pair) {
			admin := s.admin(t) // what `issuer sessions revoke` builds without REDIS_URL
			if n, err := admin.RevokeSessions(context.Background(), "alice@example.com"); err != nil || n != 1 {
				t.Fatalf("RevokeSessions: %d, %v", n, err)
			}
		}},
		{"cli-user-disable-without-redis", func(t *testing.T, s *stack, _ pair) {
			testenv.Must(t, s.admin(t).DisableUser(context.Background(), "alice@example.com"), "disable")
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, a := range actions {
				t.Run(a.name, func(t *testing.T) {
					r := testenv.StartRedis(t)
					cut := testenv.StartProxy(t, r.Addr())
					s := newSplitStack(t, b.url(t), "redis://"+cut.Addr()+"/0", r.URL, "")
					before := s.verifier("--max-staleness", "200ms")
					p := s.login("alice@example.com", "alice's password")
					h := hashHex(p.AccessToken)
					if n, _ := r.Client.Exists(context.Background(), "access_token:{"+h+"}").Result(); n != 1 {
						t.Fatal("the issuer did not cache the claims")
					}
					wantStatus(t, before, p.AccessToken, 200)

					cut.Cut()
					a.revoke(t, s, p)
					// Redis still vouches for the token and has heard nothing.
					if n, _ := r.Client.Exists(context.Background(), "access_token:{"+h+"}").Result(); n != 1 {
						t.Fatal("access_token:{h} is gone: Redis was not left stale, the test proves nothing")
					}
					if n, _ := r.Client.Exists(context.Background(), "revoked:{"+h+"}").Result(); n != 0 {
						t.Fatal("revoked:{h} written through the cut")
					}

					for _, mode := range []string{"push", "strict"} {
						v := s.verifier("--revocation", mode, "--grpc-listen", "127.0.0.1:0")
						if got := auth(t, v, p.AccessToken, false).StatusCode; got != 401 {
							t.Fatalf("%s verifier started after the revocation: HTTP %d, want 401", mode, got)
						}
						if code := grpcCheck(t, v, p.AccessToken); code == codes.OK {
							t.Fatalf("%s verifier started after the revocation: gRPC allowed", mode)
						}
					}
					start := time.Now()
					eventually(t, before, p.AccessToken, 401)
					el := time.Since(start)
					if el > 2*time.Second {
						t.Errorf("the verifier started before took %v to refuse (max-staleness 200ms)", el)
					}
					t.Logf("the verifier started before refused %v after the revocation returned (max-staleness 200ms)", el)

					cut.Restore()
					restored := time.Now()
					deadline := time.Now().Add(15 * time.Second)
					for {
						n, _ := r.Client.Exists(context.Background(), "revoked:{"+h+"}").Result()
						if n == 1 {
							break
						}
						if time.Now().After(deadline) {
							t.Fatal("the issuer did not write revoked:{h} after Redis came back")
						}
						time.Sleep(50 * time.Millisecond)
					}
					t.Logf("Redis repaired %v after the issuer reached it again", time.Since(restored))
					if n, _ := r.Client.Exists(context.Background(), "access_token:{"+h+"}").Result(); n != 0 {
						t.Error("access_token:{h} of a revoked session still in Redis after the repair")
					}
				})
			}
		})
	}
}

// admin builds the Service the issuer's admin commands build without REDIS_URL.
func (s *stack) admin(t *testing.T) *issue.Service {
	t.Helper()
	st, err := store.Open(context.Background(), s.dbURL)
	testenv.Must(t, err, "open store")
	t.Cleanup(func() { st.Close() })
	svc, err := issue.NewAdmin(issue.DefaultConfig(), issue.Deps{Store: st})
	testenv.Must(t, err, "NewAdmin")
	t.Cleanup(func() { svc.Close() })
	return svc
}

func hashHex(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// grpcCheck asks the verifier's ext_authz server about a bearer token and returns
// the status code of its answer (OK: allowed); md are metadata key-value pairs
// sent with the call.
func grpcCheck(t *testing.T, m *Main, token string, md ...string) codes.Code {
	t.Helper()
	cc, err := grpc.NewClient(m.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	testenv.Must(t, err, "grpc client")
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, md...)
	resp, err := authv3.NewAuthorizationClient(cc).Check(ctx, &authv3.CheckRequest{
		Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{
				Method: "GET", Host: "app.example.com", Path: "/",
				Headers: map[string]string{"authorization": "Bearer " + token},
			},
		}, Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{}}},
	})
	if err != nil {
		t.Fatalf("gRPC Check: %v", err)
	}
	return codes.Code(resp.GetStatus().GetCode())
}
