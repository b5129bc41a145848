package main

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// serveUntilExit runs `switchboard serve` and returns its error, failing
// the test if it is still running (retrying) after a generous while.
func serveUntilExit(t *testing.T, dsn string) (err error, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", dsn}, func(string) string { return "" }, io.Discard, log)
	}()
	select {
	case err := <-done:
		return err, log.String()
	case <-time.After(30 * time.Second):
		cancel()
		<-done
		t.Fatalf("serve still retrying after 30 s instead of stopping:\n%s", log.String())
		return nil, ""
	}
}

// A PostgreSQL answer that retrying cannot change stops serve with it.
func TestServeStopsOnALastingPostgresError(t *testing.T) {
	base := os.Getenv(sqlstoretest.PostgresEnv)
	if base == "" {
		t.Skip(sqlstoretest.PostgresEnv + " is not set")
	}
	for _, c := range []struct{ name, user, db, want string }{
		{"database does not exist", "", "switchboard_no_such_database", `database "switchboard_no_such_database" does not exist`},
		{"role does not exist", "switchboard_no_such_role", "", `role "switchboard_no_such_role" does not exist`},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			if c.user != "" {
				u.User = url.User(c.user)
			}
			if c.db != "" {
				u.Path = "/" + c.db
			}
			err, log := serveUntilExit(t, u.String())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("serve: %v, want %q\n%s", err, c.want, log)
			}
		})
	}
}

// The same when the server was unreachable at first: serve listens and
// retries while it cannot connect, and stops once the database answers
// that the password is wrong.
func TestServeStopsRetryingOnALastingPostgresError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there at first: "connection refused", worth retrying

	errc := make(chan error, 1)
	logc := make(chan string, 1)
	go func() {
		err, log := serveUntilExit(t, "postgres://switchboard:wrong@"+addr+"/switchboard?sslmode=disable&connect_timeout=2")
		errc <- err
		logc <- log
	}()
	time.Sleep(500 * time.Millisecond) // a few refused attempts
	fake, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	go func() {
		for {
			conn, err := fake.Accept()
			if err != nil {
				return
			}
			be := pgproto3.NewBackend(conn, conn)
			if _, err := be.ReceiveStartupMessage(); err == nil {
				be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "28P01",
					Message: `password authentication failed for user "switchboard"`})
				be.Flush()
			}
			conn.Close()
		}
	}()
	err = <-errc
	log := <-logc
	if err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("serve: %v\n%s", err, log)
	}
	if !strings.Contains(log, "database not reachable; retrying") {
		t.Fatalf("serve never retried while nothing listened (the test proves little):\n%s", log)
	}
}
