package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/credential"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// Authentication look-ups never wait behind list queries: with every
// connection of the read pool held (as by lists streaming to slow
// clients), a token and a Basic login are still looked up.
func TestAuthenticationDoesNotWaitForListConnections(t *testing.T) {
	sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
		db, err := sqlstore.Open(ctx, dsn, sqlstore.Options{MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		p := sb.Partner{PartnerSID: sb.NewSID(), Name: "p", Login: "p-login", Scopes: sb.Scopes{sb.ScopeManage}}
		if err := db.CreatePartner(ctx, p, "hash"); err != nil {
			t.Fatal(err)
		}
		token := sb.NewSID()
		if err := db.CreateToken(ctx, credential.HashToken(token), p.PartnerSID, p.Scopes); err != nil {
			t.Fatal(err)
		}
		var held []*sql.Conn
		for range 2 {
			c, err := sqlstore.ReadPool(db).Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		// Proof that the read pool is exhausted: a list cannot start.
		busy, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err = sb.ListPage(busy, db, p.PartnerSID, sb.ListQuery{Limit: 1})
		cancel()
		if err == nil {
			t.Fatal("a list ran although every read connection was held")
		}
		// A generous bound, only so that a regression fails instead of hanging.
		bounded, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if c, err := db.TokenCaller(bounded, credential.HashToken(token)); err != nil || c.PartnerSID != p.PartnerSID {
			t.Fatalf("token look-up with the read pool busy: %+v, %v", c, err)
		}
		if got, hash, err := db.PartnerByLogin(bounded, "p-login"); err != nil || got.PartnerSID != p.PartnerSID || hash != "hash" {
			t.Fatalf("login look-up with the read pool busy: %+v, %q, %v", got, hash, err)
		}
	})
}
