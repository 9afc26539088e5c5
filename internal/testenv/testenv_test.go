package testenv

import (
	"context"
	"testing"
	"time"

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

// TestThrowawayPostgresStopsAndStarts: a committed row survives an immediate stop
// (a crash), the server refuses connections while stopped, and answers again after
// Start.
func TestThrowawayPostgresStopsAndStarts(t *testing.T) {
	pg := StartPostgres(t)
	ctx := context.Background()
	exec := func(sql string) error {
		c, err := pgx.Connect(ctx, pg.URL)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, sql)
		return err
	}
	Must(t, exec("CREATE TABLE t (x int); INSERT INTO t VALUES (1)"), "create")
	pg.Stop(t)
	if err := exec("SELECT 1"); err == nil {
		t.Fatal("a stopped server answered")
	}
	pg.Start(t)
	c, err := pgx.Connect(ctx, pg.URL)
	Must(t, err, "connect after start")
	defer c.Close(ctx)
	var n int
	Must(t, c.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n), "count")
	if n != 1 {
		t.Fatalf("%d rows after the stop, want the committed 1", n)
	}
}

// TestProxyDelay: a delayed proxy passes the bytes on, later.
func TestProxyDelay(t *testing.T) {
	r := StartRedis(t)
	p := StartProxy(t, r.Addr())
	c := mustClient(t, "redis://"+p.Addr()+"/0")
	defer c.Close()
	p.SetDelay(150 * time.Millisecond)
	start := time.Now()
	Must(t, c.Ping(context.Background()).Err(), "ping through the slow proxy")
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("ping took %v through a proxy delaying each way by 150ms", d)
	}
	p.SetDelay(0)
}
