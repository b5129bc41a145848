package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	sb "switchboard"
	"switchboard/sqlstore"
)

// version is the release, set at build time with
// -ldflags "-X main.version=v1.2.3"; "dev" otherwise.
var version = "dev"

func printVersion(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "Prints the version of this build.", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	revision := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	if *asJSON {
		return printJSON(stdout, map[string]string{"version": version, "go": runtime.Version(), "revision": revision})
	}
	fmt.Fprintf(stdout, "switchboard %s (%s%s)\n", version, runtime.Version(), map[bool]string{true: ", " + revision}[revision != ""])
	return nil
}

// openForAdmin opens the database a command's --db names.
func openForAdmin(ctx context.Context, dsn string) (*sqlstore.DB, error) {
	return sqlstore.Open(ctx, dsn, sqlstore.Options{MaxConns: 2})
}

func listPartners(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("partners list", "Lists every partner: SID, name, login, scopes and when it was disabled.", stderr)
	dsn := fs.String("db", envOr(getenv, "SWITCHBOARD_DB", defaultDB), "database `DSN` [$SWITCHBOARD_DB]")
	asJSON := fs.Bool("json", false, "print one JSON object {\"partners\": [...]} instead of a table")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	db, err := openForAdmin(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	partners, err := db.ListPartners(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]partnerOutput, len(partners))
		for i, p := range partners {
			out[i] = partnerOutput{Name: p.Name, PartnerSID: p.PartnerSID, Scopes: scopeStrings(p.Scopes)}
			if p.Login != "" {
				out[i].Login = &p.Login
			}
			if !p.DisabledAt.IsZero() {
				out[i].DisabledAt = &p.DisabledAt
			}
		}
		return printJSON(stdout, map[string]any{"partners": out})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTNER_SID\tNAME\tLOGIN\tSCOPES\tDISABLED")
	for _, p := range partners {
		disabled := "-"
		if !p.DisabledAt.IsZero() {
			disabled = p.DisabledAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.PartnerSID, p.Name, dash(p.Login), p.Scopes, disabled)
	}
	return tw.Flush()
}

func listTokens(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("tokens list", "Lists API tokens: id, partner, scopes, when created and revoked. Token values are never stored, so never shown.", stderr)
	dsn := fs.String("db", envOr(getenv, "SWITCHBOARD_DB", defaultDB), "database `DSN` [$SWITCHBOARD_DB]")
	partner := fs.String("partner", "", "only the tokens of this `partner_sid`")
	asJSON := fs.Bool("json", false, "print one JSON object {\"tokens\": [...]} instead of a table")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	db, err := openForAdmin(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	tokens, err := db.ListTokens(ctx, *partner)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"tokens": tokens})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOKEN_ID\tPARTNER_SID\tSCOPES\tCREATED\tREVOKED")
	for _, t := range tokens {
		revoked := "-"
		if t.RevokedAt != nil {
			revoked = t.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.TokenID, t.PartnerSID, t.Scopes, t.CreatedAt.UTC().Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}

func revokeToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("tokens revoke", "Revokes an API token by its id (see tokens list); running servers stop accepting it within a second.", stderr)
	dsn := fs.String("db", envOr(getenv, "SWITCHBOARD_DB", defaultDB), "database `DSN` [$SWITCHBOARD_DB]")
	id := fs.String("token-id", "", "`id` of the token to revoke (required)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a sentence")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if *id == "" {
		return errors.New("tokens revoke: --token-id is required")
	}
	db, err := openForAdmin(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.RevokeToken(ctx, *id); errors.Is(err, sb.ErrNoCredential) {
		return fmt.Errorf("tokens revoke: no unrevoked token has the id %q", *id)
	} else if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, map[string]string{"revoked": *id})
	}
	fmt.Fprintf(stdout, "revoked token %s\n", strings.TrimSpace(*id))
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
