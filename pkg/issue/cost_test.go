package issue

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vexen/vexen-auth/internal/testenv"
	"github.com/vexen/vexen-auth/pkg/store/postgres"
)

// The cost of one operation, for the capacity model (docs/scaling.md): the
// benchmarks in bench_test.go report, besides ns/op,
//
//	cpu-us/op      CPU time of this process (the issuer, and the benchmark's own
//	               request recorder) per operation: getrusage, user + system;
//	stmts/op       SQL statements sent to PostgreSQL (BEGIN, COMMIT and ROLLBACK
//	               not counted);
//	tx/op          PostgreSQL transactions: explicit ones and autocommit statements;
//	pg-cpu-us/op   CPU time of the PostgreSQL server processes serving the
//	               benchmark's database (/proc/PID/schedstat of the backends
//	               pg_stat_activity lists for it; the WAL writer, checkpointer and
//	               other background processes are not counted).
//
// PostgreSQL's CPU is read from /proc, so only when the server runs on this machine
// (a loopback TEST_DATABASE_URL); otherwise pg-cpu-us/op is left out, and said so.

// benchStores are the stores the benchmarks run on; PostgreSQL's is metered.
var benchStores = []struct {
	name string
	open func(testing.TB) (Store, *pgMeter)
}{
	{"SQLite", func(tb testing.TB) (Store, *pgMeter) { return sqliteStore(tb), nil }},
	{"PostgreSQL", meteredPostgres},
}

// costMeter measures one benchmark's operations: this process's CPU time and, on
// PostgreSQL (pg non-nil), the database's work.
type costMeter struct {
	cpu cpuMeter
	pg  *pgMeter
}

// reset starts the measurement; call it after the benchmark's setup.
func (m *costMeter) reset(b *testing.B) {
	if m.pg != nil {
		m.pg.reset(b)
	}
	m.cpu.reset()
}

// report adds the metrics for n operations since reset.
func (m *costMeter) report(b *testing.B, n int) {
	m.cpu.report(b, n)
	if m.pg != nil {
		m.pg.report(b, n)
	}
}

// cpuMeter measures this process's CPU time.
type cpuMeter struct{ start time.Duration }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (m *cpuMeter) reset() { m.start = processCPU() }

// report adds cpu-us/op for n operations since reset.
func (m *cpuMeter) report(b *testing.B, n int) {
	if n > 0 {
		b.ReportMetric(float64(processCPU()-m.start)/float64(time.Microsecond)/float64(n), "cpu-us/op")
	}
}

// pgMeter counts statements and transactions through a pgx tracer on the store's
// pool, and reads the CPU time of the server's backends for the store's database.
type pgMeter struct {
	stmts, txs atomic.Int64

	dbURL string
	local bool // the server runs on this machine: its processes' CPU can be read

	start struct {
		stmts, txs int64
		cpu        map[int]time.Duration // backend pid → CPU time at reset
	}
}

var _ pgx.QueryTracer = (*pgMeter)(nil)

func (m *pgMeter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

// TraceQueryEnd counts the statement, and a transaction when the connection is idle
// after it: the end of an autocommit statement, a COMMIT or a ROLLBACK.
func (m *pgMeter) TraceQueryEnd(_ context.Context, conn *pgx.Conn, d pgx.TraceQueryEndData) {
	switch strings.ToLower(strings.Fields(d.CommandTag.String() + " x")[0]) {
	case "begin", "commit", "rollback":
	default:
		m.stmts.Add(1)
	}
	if conn.PgConn().TxStatus() == 'I' {
		m.txs.Add(1)
	}
}

// meteredPostgres opens a fresh, migrated PostgreSQL store (testenv.PostgresURL:
// it fails loudly when the server is unreachable) whose pool reports to a pgMeter.
func meteredPostgres(tb testing.TB) (Store, *pgMeter) {
	tb.Helper()
	m := &pgMeter{dbURL: testenv.PostgresURL(tb)}
	cfg, err := pgxpool.ParseConfig(m.dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.ConnConfig.Tracer = m
	st, err := postgres.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	m.local = loopback(cfg.ConnConfig.Host)
	if !m.local {
		tb.Logf("PostgreSQL at %s is not on this machine: no pg-cpu-us/op", cfg.ConnConfig.Host)
	}
	return st, m
}

func loopback(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// backends returns the CPU time so far of every server process connected to the
// meter's database, but the one answering this query.
func (m *pgMeter) backends(tb testing.TB) map[int]time.Duration {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, m.dbURL)
	if err != nil {
		tb.Fatalf("pgmeter: %v", err)
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	if err != nil {
		tb.Fatalf("pgmeter: %v", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		tb.Fatalf("pgmeter: %v", err)
	}
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		if d, ok := schedCPU(int(pid)); ok {
			out[int(pid)] = d
		}
	}
	return out
}

// schedCPU is the time pid has run on a CPU, from /proc/PID/schedstat (nanoseconds).
func schedCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(ns), true
}

func (m *pgMeter) reset(tb testing.TB) {
	tb.Helper()
	m.start.stmts, m.start.txs = m.stmts.Load(), m.txs.Load()
	if m.local {
		m.start.cpu = m.backends(tb)
	}
}

// report adds stmts/op, tx/op and pg-cpu-us/op for n operations since reset. A
// backend that connected meanwhile counts all of its CPU time (its start-up is part
// of the cost); one that left meanwhile is not counted (the pool keeps its
// connections for far longer than a benchmark).
func (m *pgMeter) report(b *testing.B, n int) {
	b.Helper()
	if n <= 0 {
		return
	}
	b.ReportMetric(float64(m.stmts.Load()-m.start.stmts)/float64(n), "stmts/op")
	b.ReportMetric(float64(m.txs.Load()-m.start.txs)/float64(n), "tx/op")
	if !m.local {
		return
	}
	var cpu time.Duration
	for pid, d := range m.backends(b) {
		cpu += d - m.start.cpu[pid]
	}
	b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(n), "pg-cpu-us/op")
}

// TestPGMeterCounts: for a known mix of autocommit statements and a transaction the
// meter counts what was sent, and it finds the pool's backends on this machine.
func TestPGMeterCounts(t *testing.T) {
	st, m := meteredPostgres(t)
	pool := st.(*postgres.Store).Pool()
	ctx := context.Background()
	m.start.stmts, m.start.txs = m.stmts.Load(), m.txs.Load()
	// Two autocommit statements, and one transaction of three statements.
	for range 2 {
		if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for range 3 {
			if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.stmts.Load() - m.start.stmts; got != 5 {
		t.Errorf("statements: %d, want 5", got)
	}
	if got := m.txs.Load() - m.start.txs; got != 3 {
		t.Errorf("transactions: %d, want 3", got)
	}
	u, err := url.Parse(m.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if !loopback(u.Hostname()) {
		return
	}
	// The server's processes for the database are found and their CPU time read.
	if len(m.backends(t)) == 0 {
		t.Error("no backend of the store's pool found in pg_stat_activity and /proc")
	}
}
