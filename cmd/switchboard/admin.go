package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	sb "switchboard"
	"switchboard/credential"
	"switchboard/sqlstore"
)

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", "Creates or updates the database schema (serve also does it at every start).", stderr)
	dsn := fs.String("db", envOr(getenv, "SWITCHBOARD_DB", defaultDB), "database `DSN` (sqlite:PATH or postgres://...) [$SWITCHBOARD_DB]")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if err := sqlstore.Migrate(ctx, *dsn); err != nil {
		return err
	}
	return printJSON(stdout, map[string]string{"status": "migrated"})
}

// partnerOutput is what `partners create` prints, keys in alphabetical order.
type partnerOutput struct {
	Login      *string  `json:"login"`
	Name       string   `json:"name"`
	PartnerSID string   `json:"partner_sid"`
	Scopes     []string `json:"scopes"`
	Token      string   `json:"token,omitempty"`
	TokenID    string   `json:"token_id,omitempty"`
	// DisabledAt is shown by partners list for a disabled partner.
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

type tokenOutput struct {
	PartnerSID string   `json:"partner_sid"`
	Scopes     []string `json:"scopes"`
	Token      string   `json:"token"`
	TokenID    string   `json:"token_id"`
}

func createPartner(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("partners create", "Creates a partner and its first API token, and prints them as one JSON object.", stderr)
	dsn := fs.String("db", envOr(getenv, "SWITCHBOARD_DB", defaultDB), "database `DSN` [$SWITCHBOARD_DB]")
	name := fs.String("name", "", "the partner's `name` (required)")
	scopes := fs.String("scopes", string(sb.ScopeManage), "comma-separated `scopes` of the partner and of its first token")
	login := fs.String("login", "", "`login` for HTTP Basic authentication, without ':' (with --password)")
	password := fs.String("password", "", "`password` for HTTP Basic authentication, "+passwordRule+" (with --login)")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if *name == "" {
		return errors.New("partners create: --name is required")
	}
	if (*login == "") != (*password == "") {
		return errors.New("partners create: --login and --password go together")
	}
	if *login != "" {
		if err := checkLoginPassword(*login, *password); err != nil {
			return fmt.Errorf("partners create: %w", err)
		}
	}
	sc, err := sb.ParseScopes(*scopes)
	if err != nil {
		return fmt.Errorf("partners create: --scopes: %w", err)
	}
	db, err := sqlstore.Open(ctx, *dsn, sqlstore.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer db.Close()
	p := sb.Partner{PartnerSID: sb.NewSID(), Name: *name, Login: *login, Scopes: sc}
	token, tokenID, err := newPartner(ctx, db, p, *password, "")
	if err != nil {
		return fmt.Errorf("partners create: %w", err)
	}
	out := partnerOutput{Name: p.Name, PartnerSID: p.PartnerSID, Scopes: scopeStrings(sc), Token: token, TokenID: tokenID}
	if p.Login != "" {
		out.Login = &p.Login
	}
	return printJSON(stdout, out)
}

// newPartner stores a partner (hashing its password) and a first token with
// the partner's scopes; token "" means a new random one.
func newPartner(ctx context.Context, db *sqlstore.DB, p sb.Partner, password, token string) (value, id string, err error) {
	var hash string
	if password != "" {
		if hash, err = credential.HashPassword(password); err != nil {
			return "", "", err
		}
	}
	if err := db.CreatePartner(ctx, p, hash); err != nil {
		return "", "", err
	}
	if token == "" {
		token = sb.NewSID()
	}
	id, err = db.CreateTokenWithID(ctx, credential.HashToken(token), p.PartnerSID, p.Scopes)
	return token, id, err
}

func createToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("tokens create", "Creates an API token for a partner and prints it as one JSON object (the value is shown only here).", stderr)
	dsn := fs.String("db", envOr(getenv, "SWITCHBOARD_DB", defaultDB), "database `DSN` [$SWITCHBOARD_DB]")
	partnerSID := fs.String("partner", "", "`partner_sid` of the partner the token acts for (required)")
	scopes := fs.String("scopes", string(sb.ScopeManage), "comma-separated `scopes` of the token (within the partner's)")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if *partnerSID == "" {
		return errors.New("tokens create: --partner is required")
	}
	sc, err := sb.ParseScopes(*scopes)
	if err != nil {
		return fmt.Errorf("tokens create: --scopes: %w", err)
	}
	db, err := sqlstore.Open(ctx, *dsn, sqlstore.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := db.Partner(ctx, *partnerSID)
	if err != nil {
		return fmt.Errorf("tokens create: partner %s: %w", *partnerSID, err)
	}
	if !p.DisabledAt.IsZero() {
		return fmt.Errorf("tokens create: partner %s is disabled", p.PartnerSID)
	}
	if !p.Scopes.Covers(sc) {
		return fmt.Errorf("tokens create: a token cannot have scopes its partner lacks (partner has %s)", p.Scopes)
	}
	token := sb.NewSID()
	id, err := db.CreateTokenWithID(ctx, credential.HashToken(token), p.PartnerSID, sc)
	if err != nil {
		return err
	}
	return printJSON(stdout, tokenOutput{PartnerSID: p.PartnerSID, Scopes: scopeStrings(sc), Token: token, TokenID: id})
}

var passwordRule = fmt.Sprintf("at least %d characters and at most %d bytes", credential.MinPasswordLength, credential.MaxPasswordBytes)

// checkLoginPassword refuses Basic credentials HTTP cannot carry or that
// are too easy to guess.
func checkLoginPassword(login, password string) error {
	if err := credential.CheckLogin(login); err != nil {
		return fmt.Errorf("--login: %w", err)
	}
	if err := credential.CheckPassword(password); err != nil {
		return fmt.Errorf("--password: %w", err)
	}
	return nil
}

func setPartnerPassword(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("partners set-password", "Sets a partner's HTTP Basic password (and login, given --login); running servers stop accepting the old password within a second.", stderr)
	dsn := fs.String("db", envOr(getenv, "SWITCHBOARD_DB", defaultDB), "database `DSN` [$SWITCHBOARD_DB]")
	partnerSID := fs.String("partner", "", "`partner_sid` of the partner (required)")
	password := fs.String("password", "", "the new `password`, "+passwordRule+" (required)")
	login := fs.String("login", "", "new `login`, without ':' (required when the partner has none; default: keep it)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a sentence")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if *partnerSID == "" || *password == "" {
		return errors.New("partners set-password: --partner and --password are required")
	}
	if *login != "" {
		if err := credential.CheckLogin(*login); err != nil {
			return fmt.Errorf("partners set-password: --login: %w", err)
		}
	}
	if err := credential.CheckPassword(*password); err != nil {
		return fmt.Errorf("partners set-password: --password: %w", err)
	}
	hash, err := credential.HashPassword(*password)
	if err != nil {
		return err
	}
	db, err := openForAdmin(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := db.SetPartnerPassword(ctx, *partnerSID, *login, hash)
	switch {
	case errors.Is(err, sb.ErrNoPartner):
		return fmt.Errorf("partners set-password: no partner has the SID %q", *partnerSID)
	case errors.Is(err, sb.ErrNoCredential):
		return fmt.Errorf("partners set-password: partner %s has no login; give one with --login", *partnerSID)
	case errors.Is(err, sb.ErrPartnerExists):
		return fmt.Errorf("partners set-password: another partner has the login %q", *login)
	case err != nil:
		return err
	}
	if *asJSON {
		return printJSON(stdout, map[string]string{"login": p.Login, "partner_sid": p.PartnerSID})
	}
	_, err = fmt.Fprintf(stdout, "set the password of partner %s (login %s)\n", p.PartnerSID, p.Login)
	return err
}

func disablePartner(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("partners disable", "Disables a partner: its tokens and Basic login stop working on every running server within a second; its endpoints stay.", stderr)
	dsn := fs.String("db", envOr(getenv, "SWITCHBOARD_DB", defaultDB), "database `DSN` [$SWITCHBOARD_DB]")
	partnerSID := fs.String("partner", "", "`partner_sid` of the partner to disable (required)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a sentence")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if *partnerSID == "" {
		return errors.New("partners disable: --partner is required")
	}
	db, err := openForAdmin(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := db.DisablePartner(ctx, *partnerSID)
	if errors.Is(err, sb.ErrNoPartner) {
		return fmt.Errorf("partners disable: no partner has the SID %q", *partnerSID)
	} else if err != nil {
		return err
	}
	since := p.DisabledAt.UTC().Format(time.RFC3339)
	if *asJSON {
		return printJSON(stdout, map[string]string{"disabled_at": since, "partner_sid": p.PartnerSID})
	}
	_, err = fmt.Fprintf(stdout, "partner %s is disabled (since %s)\n", p.PartnerSID, since)
	return err
}

func scopeStrings(s sb.Scopes) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v)
	}
	return out
}

func printJSON(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}
