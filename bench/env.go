package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/vexen/vexen-auth/bench/tokens"
	"github.com/vexen/vexen-auth/pkg/issue"
)

// benchUser is one user the harness created.
type benchUser struct{ id, email string }

// env is what setup prepared: the database, the Redis prefix, the issuer, the
// signed-in users and their tokens.
type env struct {
	dbURL, prefix string
	pool          *pgxpool.Pool
	rdb           *redis.Client

	issuer                *proc
	issuerAddr, issuerURL string
	keysDir               string
	password              string

	users     []benchUser
	tokens    []string // users[i]'s access token from /v1/login
	tokenFile string

	key  *ecdsa.PrivateKey // the issuer's ES256 signing key
	tmpl *tokens.Template  // the shape of the issuer's tokens

	// An Ed25519 key in the issuer's key directory, older than its ES256 signing
	// key: published in the JWKS, never signing. The harness mints the cold-eddsa
	// scenario's tokens with it.
	edKey  ed25519.PrivateKey
	edTmpl *tokens.Template
}

// edKid is the kid of the harness's Ed25519 key (its file name in the keys directory).
const edKid = "vexenbench-eddsa"

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (h *harness) setup(ctx context.Context) (*env, error) {
	o := h.o
	e := &env{prefix: "vexenbench:" + randomHex(6) + ":", password: randomHex(16)}

	// A fresh database, dropped at the end.
	admin, err := pgx.Connect(ctx, o.postgres)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s: %w", o.postgres, err)
	}
	var pgVersion string
	_ = admin.QueryRow(ctx, "SHOW server_version").Scan(&pgVersion)
	name := "vexenbench_" + randomHex(6)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		return nil, fmt.Errorf("create database: %w", err)
	}
	admin.Close(ctx)
	h.defer_(func() {
		c, err := pgx.Connect(context.Background(), o.postgres)
		if err != nil {
			h.logf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			h.logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(o.postgres)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	e.dbURL = u.String()

	// Redis: a prefix of our own, deleted at the end.
	ropt, err := redis.ParseURL(o.redis)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	e.rdb = redis.NewClient(ropt)
	h.defer_(func() { e.rdb.Close() })
	info, err := e.rdb.Info(ctx, "server").Result()
	if err != nil {
		return nil, fmt.Errorf("Redis at %s: %w", o.redis, err)
	}
	h.defer_(func() { h.deletePrefix(e.rdb, e.prefix) })

	// Schema, then the issuer.
	if _, err := runCmd(ctx, "", []string{"DATABASE_URL=" + e.dbURL}, h.bins.issuer, "migrate"); err != nil {
		return nil, err
	}
	e.pool, err = pgxpool.New(ctx, e.dbURL)
	if err != nil {
		return nil, err
	}
	h.defer_(e.pool.Close)
	if e.issuerAddr, err = freePort(); err != nil {
		return nil, err
	}
	e.issuerURL = "http://" + e.issuerAddr
	e.keysDir = filepath.Join(h.work, "keys")
	if err := os.Mkdir(e.keysDir, 0o700); err != nil {
		return nil, err
	}
	// The Ed25519 key, dated an hour back: the issuer (ES256) finds no key of its
	// algorithm, makes one, signs with it and publishes both; the older key stays
	// in the JWKS for prepublish + access TTL after the new one started signing.
	edFile := filepath.Join(e.keysDir, edKid+".pem")
	if e.edKey, err = tokens.WriteEdKey(edFile); err != nil {
		return nil, err
	}
	back := time.Now().Add(-time.Hour)
	if err := os.Chtimes(edFile, back, back); err != nil {
		return nil, err
	}
	e.issuer, err = h.start("issuer", "", nil, h.bins.issuer, "serve",
		"--listen", e.issuerAddr, "--issuer-url", e.issuerURL, "--keys", e.keysDir,
		"--database-url", e.dbURL, "--redis-url", o.redis, "--redis-prefix", e.prefix,
		"--access-ttl", "1h", "--log-level", "warn", "--metrics-listen=")
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, e.issuer, e.issuerURL+"/readyz", 30*time.Second); err != nil {
		return nil, err
	}

	// Users, created in bulk, then signed in through the real login endpoint.
	t0 := time.Now()
	if err := h.createUsers(ctx, e); err != nil {
		return nil, err
	}
	created := time.Since(t0)
	t0 = time.Now()
	if err := h.login(ctx, e); err != nil {
		return nil, err
	}
	h.logf("%d users created in %s, signed in through /v1/login in %s", o.users, created.Round(100*time.Millisecond), time.Since(t0).Round(100*time.Millisecond))
	e.tokenFile = filepath.Join(h.work, "tokens.txt")
	if err := tokens.WriteFile(e.tokenFile, e.tokens); err != nil {
		return nil, err
	}

	// The issuer's key and token shape, to mint the cold scenario's tokens.
	keys, _ := filepath.Glob(filepath.Join(e.keysDir, "*.pem"))
	if len(keys) != 2 {
		return nil, fmt.Errorf("want two keys in the issuer's %s (the harness's Ed25519 key and the issuer's ES256 key), found %d", e.keysDir, len(keys))
	}
	if e.tmpl, err = tokens.ParseTemplate(e.tokens[0]); err != nil {
		return nil, err
	}
	esFile := filepath.Join(e.keysDir, e.tmpl.Kid+".pem")
	if e.tmpl.Alg != "ES256" || !slices.Contains(keys, esFile) {
		return nil, fmt.Errorf("the issuer's token (alg %s, kid %s) was not signed by a key of %s", e.tmpl.Alg, e.tmpl.Kid, e.keysDir)
	}
	if e.key, err = tokens.LoadECKey(esFile); err != nil {
		return nil, err
	}
	if e.edTmpl, err = e.tmpl.WithKey("EdDSA", edKid); err != nil {
		return nil, err
	}

	h.rep.Settings = append(h.rep.Settings,
		fmt.Sprintf("PostgreSQL %s and Redis %s: the machine's services, not pinned; a fresh database and a fresh key prefix for the run", pgVersion, infoField(info, "redis_version")))
	return e, nil
}

func infoField(info, key string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			return v
		}
	}
	return "?"
}

// deletePrefix removes every key under prefix.
func (h *harness) deletePrefix(rdb *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var n int
	var batch []string
	iter := rdb.Scan(ctx, 0, prefix+"*", 5000).Iterator()
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 5000 {
			rdb.Unlink(ctx, batch...)
			n += len(batch)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		rdb.Unlink(ctx, batch...)
		n += len(batch)
	}
	if err := iter.Err(); err != nil {
		h.logf("delete Redis keys %s*: %v", prefix, err)
	}
}

// userHashParams is the argon2id cost of the bench users' password hashes. The
// issuer verifies a password with the parameters recorded in its hash, so the cost
// of a login follows the hash, not the issuer's configuration.
func (h *harness) userHashParams() issue.PasswordParams {
	if h.o.userHash == "production" {
		return issue.DefaultPasswordParams()
	}
	p := issue.DefaultPasswordParams()
	p.Memory, p.Time = 1024, 1
	return p
}

// createUsers inserts the users with COPY (the columns of
// pkg/store/postgres/migrations), all with the same password hash.
func (h *harness) createUsers(ctx context.Context, e *env) error {
	phc, err := issue.HashPassword(e.password, h.userHashParams())
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	e.users = make([]benchUser, h.o.users)
	for i := range e.users {
		e.users[i] = benchUser{id: tokens.NewID(), email: fmt.Sprintf("user%06d@bench.example", i)}
	}
	_, err = e.pool.CopyFrom(ctx, pgx.Identifier{"users"},
		[]string{"id", "email", "email_key", "password_hash", "roles", "disabled", "created_at"},
		pgx.CopyFromSlice(len(e.users), func(i int) ([]any, error) {
			u := e.users[i]
			return []any{u.id, u.email, strings.ToLower(u.email), phc, []string{"user"}, false, now}, nil
		}))
	if err != nil {
		return fmt.Errorf("create users: %w", err)
	}
	return nil
}

// login signs every user in through POST /v1/login, concurrently. Each login
// carries its own X-Forwarded-For address (the issuer believes it from loopback,
// as from a proxy in front of it), as users arriving from many addresses would:
// the per-address login throttle (30 a minute) is not what this measures.
func (h *harness) login(ctx context.Context, e *env) error {
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	defer cl.CloseIdleConnections()
	e.tokens = make([]string, len(e.users))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 32 { // enough in flight for PostgreSQL to group its commits
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(e.users) || ctx.Err() != nil {
					return
				}
				tok, err := loginOnce(ctx, cl, e.issuerURL, e.users[i].email, e.password, fmt.Sprintf("198.18.%d.%d", i/250, i%250+1))
				if err != nil {
					select {
					case errs <- fmt.Errorf("login %s: %w", e.users[i].email, err):
					default:
					}
					next.Store(int64(len(e.users)))
					return
				}
				e.tokens[i] = tok
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	return ctx.Err()
}

func loginOnce(ctx context.Context, cl *http.Client, issuerURL, email, password, xff string) (string, error) {
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, err := http.NewRequestWithContext(ctx, "POST", issuerURL+"/v1/login", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", xff)
	req.Header.Set("User-Agent", "vexenbench")
	resp, err := cl.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &pair); err != nil || pair.AccessToken == "" {
		return "", fmt.Errorf("no access_token in %s", b)
	}
	return pair.AccessToken, nil
}

// createSessions inserts live sessions with COPY, spread over users, and returns
// their ids; expires is their (refresh) expiry.
func createSessions(ctx context.Context, pool *pgxpool.Pool, users []benchUser, n int, expires time.Time) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = tokens.NewID()
	}
	now := time.Now().UTC()
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"sessions"},
		[]string{"id", "user_id", "created_at", "last_used_at", "expires_at"},
		pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			return []any{ids[i], users[i%len(users)].id, now, now, expires}, nil
		}))
	if err != nil {
		return nil, fmt.Errorf("create sessions: %w", err)
	}
	return ids, nil
}
