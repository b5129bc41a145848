package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/credential"
	"github.com/switchboard-sip/switchboard/fixtures"
	"github.com/switchboard-sip/switchboard/sqlstore"
)

// integrator is what `serve` does for people who test against it: known
// data at start (--fixtures), a reset route (--allow-reset), and a start
// banner that says how to make a first request.
type integrator struct {
	cfg serveConfig
	set *fixtures.Set // nil without --fixtures

	// Found at start, for the banner.
	firstStart bool   // the sandbox partner was created by this start
	token      string // its token (first start only)
	partnerSID string // the sandbox (or oldest) partner, for `tokens create`
	fixtureSum fixtures.Summary
}

// validateIntegrator is serveConfig.validate's part for these flags: a
// reset on PostgreSQL is refused before anything is reached.
func (c serveConfig) validateIntegrator() []error {
	var errs []error
	if c.ForceResetOnPostgres && !c.AllowReset {
		errs = append(errs, errors.New("--force-reset-on-postgres goes only with --allow-reset"))
	}
	if c.AllowReset && isPostgresDSN(c.DB) && !c.ForceResetOnPostgres {
		errs = append(errs, errors.New("--allow-reset is refused on PostgreSQL, whose databases are usually shared: "+
			"a reset deletes a partner's endpoints; add --force-reset-on-postgres if this database is for tests only"))
	}
	return errs
}

// newIntegrator reads the fixtures file before the database is opened, so
// a bad file stops the start at once.
func newIntegrator(cfg serveConfig) (*integrator, error) {
	in := &integrator{cfg: cfg}
	if cfg.Fixtures == "" {
		return in, nil
	}
	set, err := fixtures.Load(cfg.Fixtures)
	if err != nil {
		return nil, fmt.Errorf("the fixtures file is refused:\n%w", err)
	}
	in.set = set
	return in, nil
}

func isPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// bootstrapToken is the token the sandbox partner gets if this start
// creates it: the operator's, or a new one, known here for the banner.
func (in *integrator) bootstrapToken(ctx context.Context, db *sqlstore.DB, fromEnv string) (string, error) {
	n, err := db.CountPartners(ctx)
	if err != nil {
		return "", err
	}
	in.firstStart = n == 0
	if fromEnv != "" {
		return fromEnv, nil
	}
	return sb.NewSID(), nil
}

// setUp runs after the bootstrap: it applies the fixtures and finds what
// the banner shows.
func (in *integrator) setUp(ctx context.Context, db *sqlstore.DB, token, publicURL string, logger *slog.Logger) error {
	if in.firstStart {
		// Another process may have bootstrapped the same database first.
		c, err := db.TokenCaller(ctx, credential.HashToken(token))
		in.firstStart = err == nil && c.PartnerName == "sandbox"
		in.token = token
	}
	if in.set != nil {
		sum, err := in.set.Apply(ctx, db, fixtures.Options{PublicURL: publicURL, Logger: logger})
		if err != nil {
			return fmt.Errorf("loading the fixtures:\n%w", err)
		}
		in.fixtureSum = sum
		logger.Info("fixtures applied", "file", in.cfg.Fixtures, "partners", len(in.set.Partners),
			"partners_created", sum.PartnersCreated, "tokens_created", sum.TokensCreated, "endpoints_created", sum.EndpointsCreated)
	}
	if !in.firstStart {
		partners, err := db.ListPartners(ctx)
		if err != nil {
			return err
		}
		for _, p := range partners {
			if p.Name == "sandbox" {
				in.partnerSID = p.PartnerSID
				break
			}
		}
		if in.partnerSID == "" && len(partners) > 0 {
			in.partnerSID = partners[0].PartnerSID
		}
	}
	return nil
}

// resetter is httpapi.Server.Reset: nil (no route) unless --allow-reset.
func (in *integrator) resetter(db *sqlstore.DB) func(ctx context.Context, partnerSID, publicURL string) (int, int, error) {
	if !in.cfg.AllowReset {
		return nil
	}
	return func(ctx context.Context, partnerSID, publicURL string) (int, int, error) {
		return in.set.Reset(ctx, db, partnerSID, publicURL)
	}
}

// humanURL is the base URL a person on this machine reaches the server at:
// --public-url, else the listener's address (127.0.0.1 for a listener on
// every interface).
func humanURL(publicURL string, addr net.Addr) string {
	if publicURL != "" {
		return strings.TrimSuffix(publicURL, "/")
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// printBanner tells a person where the server is and how to make a first
// request. The `sandbox token: …` line of a first start (operations.md)
// was printed before it by the bootstrap.
func (in *integrator) printBanner(w io.Writer, dsn, base string) {
	var b strings.Builder
	fmt.Fprintf(&b, "Switchboard is serving the CarrierX Core API v2 Endpoints resource at %s/core/v2/endpoints\n", base)
	fmt.Fprintf(&b, "  database:       %s\n", redactDSN(dsn))
	if in.firstStart {
		fmt.Fprintf(&b, "  try it:         curl -s %s/core/v2/endpoints -H 'Authorization: Bearer %s'\n", base, in.token)
	} else {
		tokens := "switchboard tokens create"
		if dsn != defaultDB {
			tokens += " --db " + shellQuote(redactDSN(dsn))
		}
		if in.partnerSID != "" {
			tokens += " --partner " + in.partnerSID
		} else {
			tokens = "switchboard partners create --name NAME" + strings.TrimPrefix(tokens, "switchboard tokens create")
		}
		fmt.Fprintf(&b, "  a token:        TOKEN=$(%s | jq -r .token)   (only the first start prints a token: this makes a new one)\n", tokens)
		fmt.Fprintf(&b, "  try it:         curl -s %s/core/v2/endpoints -H \"Authorization: Bearer $TOKEN\"\n", base)
	}
	fmt.Fprintf(&b, "  API reference:  %s/core/v2/docs (OpenAPI document: %s/core/v2/openapi.json)\n", base, base)
	if in.set != nil {
		fmt.Fprintf(&b, "  fixtures:       %d partners from %s (created now: %d partners, %d tokens, %d endpoints)\n",
			len(in.set.Partners), in.cfg.Fixtures, in.fixtureSum.PartnersCreated, in.fixtureSum.TokensCreated, in.fixtureSum.EndpointsCreated)
	}
	if in.cfg.AllowReset {
		fmt.Fprintf(&b, "  reset:          curl -s -X POST %s/core/v2/reset -H \"Authorization: Bearer $TOKEN\" puts that token's partner back to the fixtures\n", base)
	}
	io.WriteString(w, b.String())
}

// redactDSN hides a password in a DSN.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
