package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/httpapi"
	"github.com/switchboard-sip/switchboard/sqlstore"
)

// serveConfig is everything `serve` runs with, from flags and environment.
type serveConfig struct {
	Addr      string
	DB        string
	PublicURL string
	// SystemGateways nil leaves the stored gateways as they are.
	SystemGateways []sb.IPPort
	RateLimit      float64
	RateBurst      int
	DebugAddr      string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (for the limits on failed sign-ins); none: the peer is.
	TrustedProxies []netip.Prefix
	// ShutdownTimeout bounds how long requests in flight may finish after
	// SIGINT or SIGTERM.
	ShutdownTimeout time.Duration
	// BootstrapToken is the sandbox partner's token on a new database
	// (SWITCHBOARD_BOOTSTRAP_TOKEN; empty: a random one).
	BootstrapToken string
	// Fixtures is a file of known data created at start (fixtures/).
	Fixtures string
	// AllowReset serves POST /core/v2/reset; on PostgreSQL only with
	// ForceResetOnPostgres.
	AllowReset           bool
	ForceResetOnPostgres bool
	// WriteTimeout bounds the sending of one answer, however large.
	WriteTimeout time.Duration
	// MaxConns caps the open connections (httpapi.ConnLimit).
	MaxConns int
	// MaxInFlight caps each credential's requests in flight (0: no cap), of
	// which MaxRunning run at once.
	MaxInFlight, MaxRunning int
	// StatementTimeout is the deadline of every read statement (a list's
	// until its answer begins); past it the request answers 503.
	StatementTimeout time.Duration
	// The change feed: followers per credential, the idle streams'
	// keep-alive interval, how long changes are kept.
	MaxStreams       int
	StreamKeepAlive  time.Duration
	ChangesRetention time.Duration
	// AnswerCacheMiB bounds GET's cache of encoded answers (0: none).
	AnswerCacheMiB int
	// keyPruning is the clock and rounds of idempotency keys' pruning
	// (tests only; the zero value is production's).
	keyPruning keyPruning
}

// Connection limits. An idle keep-alive connection is closed after
// idleTimeout. defaultMaxInFlight is twice the load tool's 32 clients on
// one token, far above the conformance suite's 20.
const (
	idleTimeout         = 30 * time.Second
	defaultWriteTimeout = 60 * time.Second
	defaultMaxConns     = 1024
	defaultMaxInFlight  = 64
)

func newServeCommand(getenv func(string) string, runServe func(context.Context, serveConfig) error) *cobra.Command {
	var cfg serveConfig
	var gateways gatewayList
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API server",
		Long: "Runs the API server. Every flag has an environment variable; a flag wins over its variable.\n" +
			"On the first start on a new database it creates the partner \"sandbox\" and prints its token\n" +
			"once, as \"sandbox token: ...\" on standard error (SWITCHBOARD_BOOTSTRAP_TOKEN chooses it).",
		Args: cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.Addr, "addr", defaultAddr, "`host:port` to listen on")
	withEnv(fs, "addr", "SWITCHBOARD_ADDR")
	dsn := addDBFlag(cmd)
	fs.StringVar(&cfg.PublicURL, "public-url", "", "`URL` clients reach the API at, for links and api_url (default: from each request)")
	withEnv(fs, "public-url", "SWITCHBOARD_PUBLIC_URL")
	fs.Var(&gateways, "system-gateway", "system gateway `IP[:PORT]`, repeatable: every partner gets a read-only system_gateway endpoint")
	withEnv(fs, "system-gateway", "SWITCHBOARD_SYSTEM_GATEWAYS")
	fs.Float64Var(&cfg.RateLimit, "rate-limit", 0, "`N` requests per second each API credential may make; 0 turns the limit off")
	withEnv(fs, "rate-limit", "SWITCHBOARD_RATE_LIMIT")
	fs.IntVar(&cfg.RateBurst, "rate-burst", 0, "`N` requests a credential may make at once above its rate (default: the rate, rounded up)")
	withEnv(fs, "rate-burst", "SWITCHBOARD_RATE_BURST")
	fs.StringVar(&cfg.DebugAddr, "debug-addr", "", "`host:port` to serve Go's profiler (/debug/pprof/) on, apart from the API; off when empty")
	withEnv(fs, "debug-addr", "SWITCHBOARD_DEBUG_ADDR")
	fs.Var(prefixList{&cfg.TrustedProxies}, "trusted-proxies", "comma-separated `addresses` or CIDRs of reverse proxies whose X-Forwarded-For names the client, for the limits on failed sign-ins (default none: the client is the connection's peer)")
	withEnv(fs, "trusted-proxies", "SWITCHBOARD_TRUSTED_PROXIES")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long requests in flight may finish after SIGINT or SIGTERM (`duration`, e.g. 10s)")
	withEnv(fs, "shutdown-timeout", "SWITCHBOARD_SHUTDOWN_TIMEOUT")
	fs.StringVar(&cfg.Fixtures, "fixtures", "", "JSON `FILE` of partners, tokens and endpoints to create at start where missing (docs/fixtures.md)")
	withEnv(fs, "fixtures", "SWITCHBOARD_FIXTURES")
	fs.BoolVar(&cfg.AllowReset, "allow-reset", false, "serve POST /core/v2/reset, which puts the caller's partner back to the fixtures' state; for test servers")
	withEnv(fs, "allow-reset", "SWITCHBOARD_ALLOW_RESET")
	fs.BoolVar(&cfg.ForceResetOnPostgres, "force-reset-on-postgres", false, "allow --allow-reset on a PostgreSQL database (refused otherwise)")
	withEnv(fs, "force-reset-on-postgres", "SWITCHBOARD_FORCE_RESET_ON_POSTGRES")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", defaultWriteTimeout, "`duration` within which an answer must be sent, however large (a list of 1,000 large endpoints can be 900 MB)")
	withEnv(fs, "write-timeout", "SWITCHBOARD_WRITE_TIMEOUT")
	fs.IntVar(&cfg.MaxConns, "max-conns", defaultMaxConns, "`N` connections open at once; at the cap a new one replaces the longest-idle one")
	withEnv(fs, "max-conns", "SWITCHBOARD_MAX_CONNS")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", defaultMaxInFlight, "`N` requests each API credential may have in flight at once, past which 429; 0 turns the cap off")
	withEnv(fs, "max-in-flight", "SWITCHBOARD_MAX_IN_FLIGHT")
	fs.IntVar(&cfg.MaxRunning, "max-running", httpapi.DefaultRunning(), "`N` requests of one API credential that run at once; the rest of its requests in flight wait their turn (default: the CPUs, at least 2)")
	withEnv(fs, "max-running", "SWITCHBOARD_MAX_RUNNING")
	fs.DurationVar(&cfg.StatementTimeout, "statement-timeout", sqlstore.DefaultStatementTimeout, "`duration` a database read may take (a list's until its answer begins) before it is stopped and answered 503")
	withEnv(fs, "statement-timeout", "SWITCHBOARD_STATEMENT_TIMEOUT")
	fs.IntVar(&cfg.AnswerCacheMiB, "answer-cache-mib", httpapi.DefaultAnswerCacheBytes>>20, "`MiB` of encoded GET answers kept in memory, which plain lists use too (checked against the database's revision on every GET and list; 0: none)")
	withEnv(fs, "answer-cache-mib", "SWITCHBOARD_ANSWER_CACHE_MIB")
	addChangeFeedFlags(fs, &cfg)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg.DB = *dsn
		cfg.SystemGateways = gateways.addrs
		cfg.BootstrapToken = getenv("SWITCHBOARD_BOOTSTRAP_TOKEN")
		if err := cfg.validate(); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		return runServe(cmd.Context(), cfg)
	}
	return cmd
}

// storeOptions are the database options the configuration sets.
func (c serveConfig) storeOptions() sqlstore.Options {
	return sqlstore.Options{StatementTimeout: c.StatementTimeout}
}

// validate checks what the flags' parsers cannot: ranges and forms.
func (c serveConfig) validate() error {
	var errs []error
	if err := checkHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr: %w", err))
	}
	if c.DebugAddr != "" {
		if err := checkHostPort(c.DebugAddr); err != nil {
			errs = append(errs, fmt.Errorf("--debug-addr: %w", err))
		}
	}
	if c.DB == "" {
		errs = append(errs, errors.New("--db: empty"))
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("--public-url %q: want http://HOST[:PORT] or https://...", c.PublicURL))
		}
	}
	if c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		errs = append(errs, fmt.Errorf("--rate-limit %v: want a number of requests per second, 0 or more", c.RateLimit))
	}
	errs = append(errs,
		atLeast("--rate-burst", c.RateBurst, 0),
		moreThanZero("--shutdown-timeout", c.ShutdownTimeout),
		moreThanZero("--write-timeout", c.WriteTimeout),
		atLeast("--max-conns", c.MaxConns, 1),
		atLeast("--max-in-flight", c.MaxInFlight, 0),
		moreThanZero("--statement-timeout", c.StatementTimeout),
		atLeast("--max-running", c.MaxRunning, 1),
	)
	errs = append(errs, c.validateChangeFeed()...)
	errs = append(errs, c.validateIntegrator()...)
	var msgs []string
	for _, e := range errs {
		if e != nil {
			msgs = append(msgs, e.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

// atLeast is the error of a flag whose value v is below lo, or nil.
func atLeast[N int | int64](flag string, v, lo N) error {
	if v < lo {
		return fmt.Errorf("%s %d: want %d or more", flag, v, lo)
	}
	return nil
}

// moreThanZero is the error of a duration flag that is not positive, or nil.
func moreThanZero(flag string, v time.Duration) error {
	if v <= 0 {
		return fmt.Errorf("%s %v: want more than 0", flag, v)
	}
	return nil
}

func checkHostPort(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q: want host:port", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: bad port", v)
	}
	return nil
}

// gatewayList is the repeatable --system-gateway flag.
type gatewayList struct{ addrs []sb.IPPort }

func (g *gatewayList) String() string {
	parts := make([]string, len(g.addrs))
	for i, a := range g.addrs {
		parts[i] = net.JoinHostPort(a.IP, strconv.FormatInt(a.Port, 10))
	}
	return strings.Join(parts, ",")
}

func (g *gatewayList) Set(v string) error {
	a, err := parseGateway(strings.TrimSpace(v))
	if err != nil {
		return err
	}
	g.addrs = append(g.addrs, a)
	return nil
}

func (g *gatewayList) Type() string { return "IP[:PORT]" }
func (g *gatewayList) repeatable()  {}

// parseGateway reads IP[:PORT] (IPv6 with a port in brackets; port 5060
// when none is given). The address goes through the same check as an
// endpoint's (sb.SIPHost), so a gateway is stored in the one canonical form
// the duplicate-IP rule compares, and never an address no peer can have.
func parseGateway(v string) (sb.IPPort, error) {
	host, port := v, int64(5060)
	if h, p, err := net.SplitHostPort(v); err == nil {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 1 || n > 65535 {
			return sb.IPPort{}, fmt.Errorf("system gateway %q: bad port", v)
		}
		host, port = h, n
	}
	canonical, err := sb.SIPHost(host)
	if err != nil {
		return sb.IPPort{}, fmt.Errorf("system gateway %q: the address %v", v, err)
	}
	return sb.IPPort{IP: canonical, Port: port}, nil
}

// prefixList is --trusted-proxies: one comma-separated list (the last
// given wins, as for any single-valued flag).
type prefixList struct{ prefixes *[]netip.Prefix }

func (l prefixList) String() string {
	if l.prefixes == nil {
		return ""
	}
	parts := make([]string, len(*l.prefixes))
	for i, p := range *l.prefixes {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

func (l prefixList) Set(v string) error {
	p, err := parsePrefixes(v)
	if err != nil {
		return err
	}
	*l.prefixes = p
	return nil
}

func (prefixList) Type() string { return "addresses" }

// parsePrefixes reads a comma-separated list of CIDRs and addresses (an
// address is its own /32 or /128).
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range strings.Split(list, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		if a, err := netip.ParseAddr(v); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR", v)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// serve runs the server until ctx ends, then shuts it down: exit 0 once
// every request in flight has finished (or, past cfg.ShutdownTimeout, had
// its connection closed) and the database is closed.
func serve(ctx context.Context, cfg serveConfig, stderr io.Writer) error {
	integ, err := newIntegrator(cfg)
	if err != nil {
		return err
	}
	logger := newLogger(stderr)
	accessLogger, stopAccessLog := newAccessLogger(stderr)
	defer stopAccessLog()
	if cfg.DebugAddr != "" {
		stop, err := serveDebug(cfg.DebugAddr, logger)
		if err != nil {
			return fmt.Errorf("debug listener: %w", err)
		}
		defer stop()
	}

	// The database is opened before listening, so that a healthy server is a
	// ready one; only when it cannot be reached (PostgreSQL starting later)
	// does the server listen first and keep trying.
	db, err := sqlstore.Open(ctx, cfg.DB, cfg.storeOptions())
	if err != nil && !sqlstore.IsUnavailable(err) {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if db != nil {
			db.Close()
		}
		return err
	}
	gate := &httpapi.Gate{}
	requests := &inFlight{next: gate}
	conns := httpapi.NewConnLimit(cfg.MaxConns)
	ln = conns.Listener(ln)
	srv := &http.Server{
		Handler:           requests,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    httpapi.HardMaxHeaderBytes,
		ConnState:         conns.ConnState,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Shutting down ends the change feed's streams and long polls.
	stopping := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(stopping) })
	stopPruner := func() {}
	ready := newReadiness(nil, logger)
	var work *background
	// start finishes the set-up on an open database and opens the gate.
	start := func(db *sqlstore.DB) error {
		if path := db.CreatedFile(); path != "" {
			logger.Info("created a new database", "path", path)
		}
		token, err := integ.bootstrapToken(ctx, db, cfg.BootstrapToken)
		if err != nil {
			return err
		}
		if err := prepare(ctx, db, cfg.SystemGateways, token, stderr); err != nil {
			return err
		}
		if err := integ.setUp(ctx, db, token, humanURL(cfg.PublicURL, ln.Addr()), logger); err != nil {
			return err
		}
		ready.check = db.CheckWritable
		registry := newRegistry(db)
		registry.MustRegister(conns)
		api := &httpapi.Server{Store: db, PublicURL: cfg.PublicURL, Logger: logger, AccessLog: true, AccessLogger: accessLogger,
			Registry: registry, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst, TrustedProxies: cfg.TrustedProxies,
			MaxInFlight: cfg.MaxInFlight, MaxRunning: cfg.MaxRunning,
			MaxStreams: cfg.MaxStreams, KeepAlive: cfg.StreamKeepAlive, Stopping: stopping, AnswerCacheBytes: answerCacheBytes(cfg.AnswerCacheMiB),
			Reset: integ.resetter(db), Ready: func(*http.Request) error { return ready.ready() },
			Now: cfg.keyPruning.clock()}
		stopPruner = startPruner(db, cfg.ChangesRetention, logger)
		gate.Open(api.Handler())
		work = startBackground(ctx, db, cfg.keyPruning, logger)
		return nil
	}
	if db != nil {
		defer func() { stopPruner(); db.Close() }()
		if err := start(db); err != nil {
			ln.Close()
			return err
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())
	if db != nil {
		integ.printBanner(stderr, cfg.DB, humanURL(cfg.PublicURL, ln.Addr()))
	}
	if db == nil {
		db, err = openWithRetry(ctx, cfg.DB, cfg.storeOptions(), logger)
		if err == nil && db != nil {
			defer func() { stopPruner(); db.Close() }()
			err = start(db)
			if err == nil {
				logger.Info("database reachable; serving the API")
				integ.printBanner(stderr, cfg.DB, humanURL(cfg.PublicURL, ln.Addr()))
			}
		}
		if err != nil {
			srv.Close()
			requests.wait(cfg.ShutdownTimeout)
			return err
		}
	}

	// Registered after the database's Close, so it runs before it.
	defer func() { work.stop() }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	ready.drain()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Past the timeout the remaining connections are closed: those
		// clients get no answer (or an incomplete one), never a 500 from
		// a closed database, because the database stays open until their
		// handlers have returned.
		logger.Warn("requests still in flight at the shutdown timeout; closing their connections",
			"in_flight", requests.count(), "timeout", cfg.ShutdownTimeout.String())
		srv.Close()
	}
	if !requests.wait(cfg.ShutdownTimeout) {
		logger.Warn("handlers still running after their connections were closed; closing the database anyway", "in_flight", requests.count())
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// openWithRetry opens the database, waiting longer after each failure
// while the server cannot be reached, until it answers (db), answers with
// an error retrying cannot fix (err), or ctx ends (nil, nil).
func openWithRetry(ctx context.Context, dsn string, opt sqlstore.Options, logger *slog.Logger) (*sqlstore.DB, error) {
	wait := 100 * time.Millisecond
	for {
		db, err := sqlstore.Open(ctx, dsn, opt)
		if err == nil {
			return db, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		if !sqlstore.IsUnavailable(err) {
			logger.Error("database refused; stopping", "error", err.Error())
			return nil, err
		}
		logger.Warn("database not reachable; retrying", "error", err.Error(), "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// prepare applies the system gateway configuration and bootstraps a new
// database.
func prepare(ctx context.Context, db *sqlstore.DB, gateways []sb.IPPort, bootstrapToken string, stderr io.Writer) error {
	if len(gateways) > 0 {
		if err := db.SetSystemGateways(ctx, gateways); err != nil {
			return fmt.Errorf("configuring system gateways: %w", err)
		}
	}
	return bootstrap(ctx, db, bootstrapToken, stderr)
}

// bootstrap creates the sandbox partner and prints its token on the first
// start on an empty database (operations.md).
func bootstrap(ctx context.Context, db *sqlstore.DB, token string, stderr io.Writer) error {
	n, err := db.CountPartners(ctx)
	if err != nil || n > 0 {
		return err
	}
	p := sb.Partner{PartnerSID: sb.NewSID(), Name: "sandbox", Scopes: sb.Scopes{sb.ScopeManage, sb.ScopeManageAuthRequired}}
	token, _, err = newPartner(ctx, db, p, "", token)
	if err != nil {
		return fmt.Errorf("creating the sandbox partner: %w", err)
	}
	_, err = fmt.Fprintf(stderr, "sandbox token: %s\n", token)
	return err
}

// newLogger writes JSON lines unless standard error is a terminal.
func newLogger(w io.Writer) *slog.Logger {
	if isTerminal(w) {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// answerCacheBytes is --answer-cache-mib as httpapi.Server takes it.
func answerCacheBytes(mib int) int {
	if mib <= 0 {
		return -1
	}
	return mib << 20
}
