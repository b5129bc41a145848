package sqlstore

import (
	"errors"
	"testing"

	sb "switchboard"
)

// A disabled partner's token and login authenticate no more; its data and
// its other fields stay.
func TestDisablePartner(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
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
	backends(t, func(t *testing.T, db *DB) {
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
