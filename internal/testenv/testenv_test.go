package testenv

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestPostgresURLGivesAFreshDatabase(t *testing.T) {
	u := PostgresURL(t)
	conn, err := pgx.Connect(context.Background(), u)
	Must(t, err, "connect %s", u)
	defer conn.Close(context.Background())
	var n int
	Must(t, conn.QueryRow(context.Background(), "select count(*) from pg_tables where schemaname='public'").Scan(&n), "query")
	if n != 0 {
		t.Fatalf("fresh database has %d tables", n)
	}
}

func TestThrowawayRedisRestarts(t *testing.T) {
	r := StartRedis(t)
	ctx := context.Background()
	Must(t, r.Client.Set(ctx, "k", "v", 0).Err(), "set")
	r.Stop(t)
	if err := r.Client.Get(ctx, "k").Err(); err == nil {
		t.Fatal("stopped redis answered")
	}
	r.Start(t)
	if err := r.Client.Get(ctx, "k").Err(); err == nil {
		t.Fatal("restarted redis without persistence kept a key")
	}
}
