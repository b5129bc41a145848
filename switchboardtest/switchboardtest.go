// Package switchboardtest runs a real Switchboard server inside a Go test
// process, for testing code that talks to the CarrierX Endpoints API.
//
// Start serves the same handler stack as `switchboard serve` (authentication,
// scopes, validation, rate limits, CarrierX error bodies) over a real store,
// by default a new in-memory SQLite database, on a loopback port:
//
//	func TestMyIntegration(t *testing.T) {
//		srv := switchboardtest.Start(t)
//		c := client.New(client.WithBaseURL(srv.URL), client.WithToken(srv.Token))
//		// ... exercise code that uses c (or any HTTP client) against srv.URL
//	}
//
// Every server is a world of its own: its database starts empty but for the
// default partner, and it is closed, with its data, when the test ends.
// CreatePartner adds partners with chosen scopes and Basic credentials, and
// CreateToken more tokens, for testing what a credential may or may not do.
package switchboardtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/credential"
	"github.com/switchboard-sip/switchboard/httpapi"
	"github.com/switchboard-sip/switchboard/sqlstore"
)

// Server is a running Switchboard server.
type Server struct {
	// URL is the server's base URL (http://127.0.0.1:PORT); the API is
	// under URL + "/core/v2". It is what a client takes instead of
	// https://api.carrierx.com.
	URL string
	// Token is an API token of the default partner ("sandbox"), which has
	// every scope, endpoints.manage_auth_required included.
	Token string
	// PartnerSID is the default partner's partner_sid.
	PartnerSID string

	http     *httptest.Server
	db       *sqlstore.DB
	partners atomic.Int64 // CreatePartner calls, for default names
}

// Option configures a server.
type Option func(*config)

type config struct {
	dsn       string
	token     string
	rateLimit float64
	rateBurst int
	logger    *slog.Logger
}

// WithDatabase serves on the database a DSN names (sqlite:PATH,
// postgres://...) instead of a new in-memory one, to look at the data
// afterwards or to test on PostgreSQL. The database keeps what the server
// writes; a DSN of a database that already has partners gets one more
// default partner.
func WithDatabase(dsn string) Option { return func(c *config) { c.dsn = dsn } }

// WithToken gives the default partner this API token instead of a random one.
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithRateLimit limits each credential to perSecond requests a second with
// bursts of burst, as `serve --rate-limit --rate-burst` does; requests over
// it are answered 429 with Retry-After. The default is no limit.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(c *config) { c.rateLimit, c.rateBurst = perSecond, burst }
}

// WithLogger receives the server's logs, one line per request included
// (the default discards them).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Start runs a server for the test and closes it when the test and its
// subtests end (t.Cleanup). A server that cannot start fails the test.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatalf("switchboardtest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// New runs a server outside a test's life, for a TestMain shared by a
// package's tests or for an example; the caller must Close it.
func New(opts ...Option) (*Server, error) {
	cfg := config{dsn: "memory", logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, cfg.dsn, sqlstore.Options{})
	if err != nil {
		return nil, fmt.Errorf("opening the database: %w", err)
	}
	api := &httpapi.Server{Store: db, Logger: cfg.logger, AccessLog: true,
		RateLimit: cfg.rateLimit, RateBurst: cfg.rateBurst,
		Ready: func(r *http.Request) error { return db.Ping(r.Context()) }}
	s := &Server{db: db, http: httptest.NewServer(api.Handler())}
	s.URL = s.http.URL
	sandbox, err := s.createPartner(ctx, PartnerSpec{Name: "sandbox", Scopes: allScopes()}, cfg.token)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("creating the default partner: %w", err)
	}
	s.Token, s.PartnerSID = sandbox.Token, sandbox.PartnerSID
	return s, nil
}

// Close stops the server and closes its database (an in-memory one is
// gone then). It is safe to call more than once.
func (s *Server) Close() {
	if s.http != nil {
		s.http.Close()
		s.http = nil
	}
	if s.db != nil {
		s.db.Close()
		s.db = nil
	}
}

// PartnerSpec describes a partner to create.
type PartnerSpec struct {
	// Name is the partner's name (default "partner N", N counting the
	// server's CreatePartner calls).
	Name string
	// Scopes are the partner's scopes and its first token's (default
	// endpoints.manage): endpoints.manage, endpoints.create, endpoints.read,
	// endpoints.update, endpoints.delete, endpoints.manage_auth_required.
	Scopes []string
	// Login and Password are HTTP Basic credentials of the partner (both or
	// neither); a Basic request has all of the partner's scopes.
	Login, Password string
}

// Partner is a partner created by CreatePartner.
type Partner struct {
	PartnerSID string
	Name       string
	Scopes     []string
	// Token is an API token with all of the partner's scopes.
	Token string
	// Login and Password are as given in the spec ("" without Basic
	// credentials).
	Login, Password string
}

// CreatePartner creates a partner and an API token with its scopes.
func (s *Server) CreatePartner(ctx context.Context, spec PartnerSpec) (*Partner, error) {
	if n := s.partners.Add(1); spec.Name == "" {
		spec.Name = fmt.Sprintf("partner %d", n)
	}
	return s.createPartner(ctx, spec, "")
}

func (s *Server) createPartner(ctx context.Context, spec PartnerSpec, token string) (*Partner, error) {
	if s.db == nil {
		return nil, errors.New("switchboardtest: the server is closed")
	}
	if (spec.Login == "") != (spec.Password == "") {
		return nil, errors.New("switchboardtest: Login and Password go together")
	}
	if len(spec.Scopes) == 0 {
		spec.Scopes = []string{string(sb.ScopeManage)}
	}
	scopes, err := sb.ParseScopes(strings.Join(spec.Scopes, ","))
	if err != nil {
		return nil, fmt.Errorf("switchboardtest: %w", err)
	}
	var hash string
	if spec.Password != "" {
		// bcrypt at its lowest cost: the server verifies any cost, and a
		// test suite's logins should not cost it seconds.
		h, err := bcrypt.GenerateFromPassword([]byte(spec.Password), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		hash = string(h)
	}
	p := sb.Partner{PartnerSID: sb.NewSID(), Name: spec.Name, Login: spec.Login, Scopes: scopes}
	if err := s.db.CreatePartner(ctx, p, hash); err != nil {
		return nil, fmt.Errorf("switchboardtest: creating partner %q: %w", spec.Name, err)
	}
	if token == "" {
		token = sb.NewSID()
	}
	if err := s.db.CreateToken(ctx, credential.HashToken(token), p.PartnerSID, scopes); err != nil {
		return nil, err
	}
	return &Partner{PartnerSID: p.PartnerSID, Name: p.Name, Scopes: scopeStrings(scopes), Token: token,
		Login: spec.Login, Password: spec.Password}, nil
}

// CreateToken creates another API token for a partner, with the given
// scopes (which must be within the partner's), and returns its value.
func (s *Server) CreateToken(ctx context.Context, partnerSID string, scopes ...string) (string, error) {
	if s.db == nil {
		return "", errors.New("switchboardtest: the server is closed")
	}
	sc, err := sb.ParseScopes(strings.Join(scopes, ","))
	if err != nil {
		return "", fmt.Errorf("switchboardtest: %w", err)
	}
	p, err := s.db.Partner(ctx, partnerSID)
	if err != nil {
		return "", fmt.Errorf("switchboardtest: partner %s: %w", partnerSID, err)
	}
	if !p.Scopes.Covers(sc) {
		return "", fmt.Errorf("switchboardtest: a token cannot have scopes its partner lacks (partner has %s)", p.Scopes)
	}
	token := sb.NewSID()
	if err := s.db.CreateToken(ctx, credential.HashToken(token), partnerSID, sc); err != nil {
		return "", err
	}
	return token, nil
}

func allScopes() []string { return scopeStrings(sb.AllScopes) }

func scopeStrings(s sb.Scopes) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v)
	}
	return out
}
