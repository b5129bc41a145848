package sqlstore_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

func TestSystemGateways(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a := newPartner(t, db, "a")
		gw := []sb.IPPort{{IP: "192.0.2.50", Port: 5060}}
		if err := db.SetSystemGateways(ctx, gw); err != nil {
			t.Fatal(err)
		}
		b := newPartner(t, db, "b") // created later: gets one with the partner
		gatewayOf := func(c sb.Caller) *sb.Endpoint {
			t.Helper()
			p, err := sb.ListPage(ctx, db, c.PartnerSID, sb.ListQuery{Limit: 10})
			if err != nil || len(p.Items) != 1 || p.Items[0].Type != sb.TypeSystemGateway {
				t.Fatalf("partner %s: want exactly one system_gateway endpoint, got %v %v", c.PartnerName, p, err)
			}
			return p.Items[0]
		}
		ga, gb := gatewayOf(a), gatewayOf(b)
		if ga.Addresses[0].IP != "192.0.2.50" || gb.AuthRequired {
			t.Fatalf("gateway endpoint: %+v", ga)
		}
		// Restarting with the same configuration keeps the SIDs.
		if err := db.SetSystemGateways(ctx, gw); err != nil {
			t.Fatal(err)
		}
		if gatewayOf(a).EndpointSID != ga.EndpointSID {
			t.Fatal("a restart must keep the gateway's SID")
		}
		if err := db.DeleteEndpoint(ctx, a.PartnerSID, ga.EndpointSID); sb.ErrorKindOf(err) != sb.KindForbidden {
			t.Fatalf("deleting a gateway: want 403, got %v", err)
		}
		e := newEndpoint(t, a, thirdParty("near", "192.0.2.50", 5060, false))
		if err := db.CreateEndpoint(ctx, e); !errors.Is(err, sb.ErrDuplicateIP) {
			t.Fatalf("a gateway's address is taken for auth_required=false endpoints, got %v", err)
		}
		// A new address list moves every gateway.
		if err := db.SetSystemGateways(ctx, []sb.IPPort{{IP: "192.0.2.51", Port: 5080}}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateEndpoint(ctx, e); err != nil {
			t.Fatalf("the old gateway address must be free again: %v", err)
		}
		if g := gatewayOf(b); g.Addresses[0].IP != "192.0.2.51" || g.Addresses[0].Port != 5080 {
			t.Fatalf("gateway addresses not updated: %+v", g.Addresses)
		}
	})
}

func TestCredentials(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		p := sb.Partner{PartnerSID: sb.NewSID(), Name: "p", Login: "login-1", Scopes: sb.Scopes{sb.ScopeManage}}
		if err := db.CreatePartner(ctx, p, "hash"); err != nil {
			t.Fatal(err)
		}
		if err := db.CreatePartner(ctx, sb.Partner{PartnerSID: sb.NewSID(), Name: "q", Login: "login-1", Scopes: p.Scopes}, "h"); !errors.Is(err, sb.ErrPartnerExists) {
			t.Fatalf("a second partner with the same login: %v", err)
		}
		if got, hash, err := db.PartnerByLogin(ctx, "login-1"); err != nil || hash != "hash" || got.PartnerSID != p.PartnerSID {
			t.Fatalf("PartnerByLogin: %+v %q %v", got, hash, err)
		}
		if _, _, err := db.PartnerByLogin(ctx, "nobody"); !errors.Is(err, sb.ErrNoCredential) {
			t.Fatalf("unknown login: %v", err)
		}
		if err := db.CreateToken(ctx, "tokenhash", p.PartnerSID, sb.Scopes{sb.ScopeRead}); err != nil {
			t.Fatal(err)
		}
		c, err := db.TokenCaller(ctx, "tokenhash")
		if err != nil || c.PartnerSID != p.PartnerSID || !slices.Equal(c.Scopes, sb.Scopes{sb.ScopeRead}) || c.PartnerName != "p" {
			t.Fatalf("TokenCaller: %+v %v", c, err)
		}
		if _, err := db.TokenCaller(ctx, "other"); !errors.Is(err, sb.ErrNoCredential) {
			t.Fatalf("unknown token: %v", err)
		}
	})
}

func TestTokenAdministration(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a := newPartner(t, db, "a")
		id, err := db.CreateTokenWithID(ctx, "hash-1", a.PartnerSID, sb.Scopes{sb.ScopeRead})
		if err != nil {
			t.Fatal(err)
		}
		list, err := db.ListTokens(ctx, a.PartnerSID)
		if err != nil || len(list) != 1 || list[0].TokenID != id || list[0].RevokedAt != nil || list[0].CreatedAt.IsZero() {
			t.Fatalf("ListTokens: %+v %v", list, err)
		}
		if err := db.RevokeToken(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.TokenCaller(ctx, "hash-1"); !errors.Is(err, sb.ErrNoCredential) {
			t.Fatalf("a revoked token must not authenticate: %v", err)
		}
		if err := db.RevokeToken(ctx, id); !errors.Is(err, sb.ErrNoCredential) {
			t.Fatalf("revoking twice: %v", err)
		}
		if list, _ := db.ListTokens(ctx, ""); len(list) != 1 || list[0].RevokedAt == nil {
			t.Fatalf("all tokens: %+v", list)
		}
		partners, err := db.ListPartners(ctx)
		if err != nil || len(partners) != 1 || partners[0].Name != "a" {
			t.Fatalf("ListPartners: %+v %v", partners, err)
		}
	})
}

// A disabled partner's token and login authenticate no more; its data and
// its other fields stay.
func TestDisablePartner(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		p := sb.Partner{PartnerSID: sb.NewSID(), Name: "p", Login: "login-d", Scopes: sb.Scopes{sb.ScopeManage}}
		other := sb.Partner{PartnerSID: sb.NewSID(), Name: "o", Login: "login-o", Scopes: sb.Scopes{sb.ScopeManage}}
		for _, q := range []sb.Partner{p, other} {
			if err := db.CreatePartner(ctx, q, "hash-"+q.Login); err != nil {
				t.Fatal(err)
			}
			if err := db.CreateToken(ctx, "token-"+q.Login, q.PartnerSID, q.Scopes); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.DisablePartner(ctx, p.PartnerSID)
		if err != nil || got.DisabledAt.IsZero() || got.Login != p.Login {
			t.Fatalf("DisablePartner: %+v %v", got, err)
		}
		if _, err := db.TokenCaller(ctx, "token-login-d"); !errors.Is(err, sb.ErrNoCredential) {
			t.Fatalf("a disabled partner's token: %v", err)
		}
		if _, _, err := db.PartnerByLogin(ctx, "login-d"); !errors.Is(err, sb.ErrNoCredential) {
			t.Fatalf("a disabled partner's login: %v", err)
		}
		if c, err := db.TokenCaller(ctx, "token-login-o"); err != nil || c.PartnerSID != other.PartnerSID {
			t.Fatalf("another partner's token: %+v %v", c, err)
		}
		again, err := db.DisablePartner(ctx, p.PartnerSID)
		if err != nil || !again.DisabledAt.Equal(got.DisabledAt) {
			t.Fatalf("disabling twice keeps the first time: %v then %v (%v)", got.DisabledAt, again.DisabledAt, err)
		}
		if read, err := db.Partner(ctx, p.PartnerSID); err != nil || !read.DisabledAt.Equal(got.DisabledAt) {
			t.Fatalf("Partner: %+v %v", read, err)
		}
		list, err := db.ListPartners(ctx)
		if err != nil || len(list) != 2 || list[0].DisabledAt.IsZero() != (list[0].PartnerSID != p.PartnerSID) || list[1].DisabledAt.IsZero() != (list[1].PartnerSID != p.PartnerSID) {
			t.Fatalf("ListPartners: %+v %v", list, err)
		}
		if _, err := db.DisablePartner(ctx, sb.NewSID()); !errors.Is(err, sb.ErrNoPartner) {
			t.Fatalf("an unknown partner: %v", err)
		}
	})
}

func TestSetPartnerPassword(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		withLogin := sb.Partner{PartnerSID: sb.NewSID(), Name: "l", Login: "login-l", Scopes: sb.Scopes{sb.ScopeManage}}
		tokenOnly := sb.Partner{PartnerSID: sb.NewSID(), Name: "t", Scopes: sb.Scopes{sb.ScopeManage}}
		for _, q := range []sb.Partner{withLogin, tokenOnly} {
			if err := db.CreatePartner(ctx, q, map[bool]string{true: "old-hash"}[q.Login != ""]); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name, sid, login, wantLogin string
			want                        error
		}{
			{"new password, same login", withLogin.PartnerSID, "", "login-l", nil},
			{"no login to set a password for", tokenOnly.PartnerSID, "", "", sb.ErrNoCredential},
			{"a login taken by another partner", tokenOnly.PartnerSID, "login-l", "", sb.ErrPartnerExists},
			{"a first login", tokenOnly.PartnerSID, "login-t", "login-t", nil},
			{"unknown partner", sb.NewSID(), "x", "", sb.ErrNoPartner},
		} {
			p, err := db.SetPartnerPassword(ctx, tc.sid, tc.login, "hash-"+tc.name)
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
				continue
			}
			if err != nil {
				continue
			}
			if got, hash, err := db.PartnerByLogin(ctx, tc.wantLogin); err != nil || got.PartnerSID != tc.sid || hash != "hash-"+tc.name || p.Login != tc.wantLogin {
				t.Errorf("%s: PartnerByLogin %+v %q %v", tc.name, got, hash, err)
			}
		}
	})
}

// Gateway writes through two handles on one database (two processes) at
// once, on partners without a gateway yet and while partners are created,
// leave each partner exactly one gateway, all at the addresses of the
// write that came last.
func TestSystemGatewaysAcrossProcesses(t *testing.T) {
	for round := range 6 {
		sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
			dbs := []*sqlstore.DB{sqlstoretest.Open(t, dsn), sqlstoretest.Open(t, dsn)}
			var partners []string
			for i := range 3 {
				partners = append(partners, newPartner(t, dbs[0], fmt.Sprint("before-", i)).PartnerSID)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			errs := make([]error, 4)
			for i := range 4 {
				wg.Go(func() {
					db := dbs[i%2]
					if i < 2 {
						errs[i] = db.SetSystemGateways(ctx, []sb.IPPort{{IP: fmt.Sprintf("192.0.2.%d", 100+i), Port: 5060}})
						return
					}
					p := sb.Partner{PartnerSID: sb.NewSID(), Name: fmt.Sprintf("during-%d-%d", round, i), Scopes: sb.Scopes{sb.ScopeManage}}
					if errs[i] = db.CreatePartner(ctx, p, ""); errs[i] == nil {
						mu.Lock()
						partners = append(partners, p.PartnerSID)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			at := map[string]int{}
			for _, sid := range partners {
				p, err := sb.ListPage(ctx, dbs[0], sid, sb.ListQuery{Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range p.Items {
					if e.Type != sb.TypeSystemGateway || len(e.Addresses) != 1 {
						t.Fatalf("partner %s: %+v", sid, e)
					}
					at[e.Addresses[0].IP]++
				}
				if len(p.Items) > 1 {
					t.Errorf("round %d: partner %s has %d gateways", round, sid, len(p.Items))
				}
			}
			if len(at) != 1 || len(partners) != 5 {
				t.Errorf("round %d: the gateways of %d partners are at %v; want one address for all", round, len(partners), at)
			}
		})
	}
}
