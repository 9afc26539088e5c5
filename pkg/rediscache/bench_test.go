package rediscache_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/rediscache"
)

// benchClaims is the size and shape of an issuer's cached claims.
const benchClaims = `{"iss":"http://localhost:8080","sub":"0190f6a2-5a3c-7d2e-9b1a-3c4d5e6f7a8b","aud":"vexen","exp":1893456000,"iat":1893455100,"nbf":1893455100,"jti":"b3f1c2d4e5f6a7b8c9d0e1f2a3b4c5d6","sid":"0190f6a2-5a3c-7d2e-9b1a-000000000001","email":"user1@example.com","roles":["user"]}`

// benchLookups fills n tokens' claims and returns their hashes.
func benchLookups(b *testing.B, n int) (*rediscache.Cache, []string) {
	b.Helper()
	r := testenv.SharedRedis(b)
	rdb, err := rediscache.Open(r.URL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rdb.Close() })
	c := rediscache.New(rdb, rediscache.Options{Prefix: r.Prefix})
	hs := make([]string, n)
	exp := time.Now().Add(time.Hour)
	for i := range hs {
		hs[i] = "bench" + strconv.Itoa(i)
		if err := c.Fill(context.Background(), hs[i], []byte(benchClaims), exp); err != nil {
			b.Fatal(err)
		}
	}
	return c, hs
}

// BenchmarkLookup is one caller at a time: one round trip per lookup, the latency
// floor the batching must not raise.
func BenchmarkLookup(b *testing.B) {
	c, hs := benchLookups(b, 64)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l, err := c.Lookup(ctx, hs[i%len(hs)])
		if err != nil || l.Claims == nil {
			b.Fatal(l, err)
		}
	}
}

// BenchmarkLookupParallel is 64 concurrent callers, as under load: concurrent
// lookups share pipelined round trips.
func BenchmarkLookupParallel(b *testing.B) {
	c, hs := benchLookups(b, 64)
	ctx := context.Background()
	var next atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(32) // 32 × GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l, err := c.Lookup(ctx, hs[next.Add(1)%uint64(len(hs))])
			if err != nil || l.Claims == nil {
				b.Error(l, err)
				return
			}
		}
	})
}
