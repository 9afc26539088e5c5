package postgres_test

import (
	"context"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vexen/vexen-auth/pkg/store/postgres"
)

// Open with a DATABASE_URL, apply the schema, and check the server answers.
func Example() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, os.Getenv("DATABASE_URL")) // postgres://user:pw@host:5432/db?sslmode=verify-full
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		log.Fatal(err)
	}
}

// A pool configured by the caller, here with a bigger pool than pgx's default.
func ExampleNewWithConfig() {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns = 32
	s, err := postgres.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
}
