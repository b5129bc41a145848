package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	sb "switchboard"
	"switchboard/httpapi"
	"switchboard/sqlstore"
)

// shutdownTimeout bounds how long requests in flight may finish after
// SIGINT or SIGTERM.
const shutdownTimeout = 10 * time.Second

// gatewayList is the repeatable --system-gateway flag.
type gatewayList struct {
	addrs []sb.IPPort
	set   bool // given on the command line: replaces the environment's list
}

func (g *gatewayList) String() string {
	parts := make([]string, len(g.addrs))
	for i, a := range g.addrs {
		parts[i] = net.JoinHostPort(a.IP, strconv.FormatInt(a.Port, 10))
	}
	return strings.Join(parts, ",")
}

func (g *gatewayList) Set(v string) error {
	if !g.set {
		g.addrs, g.set = nil, true
	}
	return g.add(v)
}

func (g *gatewayList) add(v string) error {
	a, err := parseGateway(strings.TrimSpace(v))
	if err != nil {
		return err
	}
	g.addrs = append(g.addrs, a)
	return nil
}

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

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := newFlags("serve", "Runs the API server. Every flag has an environment variable; a flag wins over its variable.", stderr)
	addr := fs.String("addr", envOr(getenv, "SWITCHBOARD_ADDR", defaultAddr), "`host:port` to listen on [$SWITCHBOARD_ADDR]")
	dsn := fs.String("db", envOr(getenv, "SWITCHBOARD_DB", defaultDB), "database `DSN`: sqlite:PATH, memory (nothing on disk) or postgres://... [$SWITCHBOARD_DB]")
	publicURL := fs.String("public-url", getenv("SWITCHBOARD_PUBLIC_URL"), "`URL` clients reach the API at, for links and api_url (default: from each request) [$SWITCHBOARD_PUBLIC_URL]")
	var gateways gatewayList
	for _, v := range strings.Split(getenv("SWITCHBOARD_SYSTEM_GATEWAYS"), ",") {
		if strings.TrimSpace(v) != "" {
			if err := gateways.add(v); err != nil {
				return fmt.Errorf("SWITCHBOARD_SYSTEM_GATEWAYS: %w", err)
			}
		}
	}
	rateLimit := fs.Float64("rate-limit", envFloat(getenv, "SWITCHBOARD_RATE_LIMIT"), "requests per `second` each API credential may make; 0 turns the limit off [$SWITCHBOARD_RATE_LIMIT]")
	rateBurst := fs.Int("rate-burst", int(envFloat(getenv, "SWITCHBOARD_RATE_BURST")), "`requests` a credential may make at once above its rate (default: the rate, rounded up) [$SWITCHBOARD_RATE_BURST]")
	debugAddr := fs.String("debug-addr", getenv("SWITCHBOARD_DEBUG_ADDR"), "`host:port` to serve Go's profiler (/debug/pprof/) on, apart from the API; off when empty [$SWITCHBOARD_DEBUG_ADDR]")
	trustedProxies := fs.String("trusted-proxies", getenv("SWITCHBOARD_TRUSTED_PROXIES"), "comma-separated `addresses` or CIDRs of reverse proxies whose X-Forwarded-For names the client, for the limits on failed sign-ins (default none: the client is the connection's peer) [$SWITCHBOARD_TRUSTED_PROXIES]")
	fs.Var(&gateways, "system-gateway", "system gateway `IP[:PORT]`, repeatable: every partner gets a read-only system_gateway endpoint [$SWITCHBOARD_SYSTEM_GATEWAYS, comma-separated]")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	proxies, err := parsePrefixes(*trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	logger := newLogger(stderr)
	if *debugAddr != "" {
		stop, err := serveDebug(*debugAddr, logger)
		if err != nil {
			return fmt.Errorf("debug listener: %w", err)
		}
		defer stop()
	}

	// The database is opened before listening, so that a healthy server is a
	// ready one; only when it cannot be reached (PostgreSQL starting later)
	// does the server listen first and keep trying.
	db, err := sqlstore.Open(ctx, *dsn, sqlstore.Options{})
	if err != nil && !sqlstore.IsUnavailable(err) {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		if db != nil {
			db.Close()
		}
		return err
	}
	gate := &httpapi.Gate{}
	srv := &http.Server{
		Handler:           gate,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// start finishes the set-up on an open database and opens the gate.
	start := func(db *sqlstore.DB) error {
		if err := prepare(ctx, db, gateways.addrs, getenv("SWITCHBOARD_BOOTSTRAP_TOKEN"), stderr); err != nil {
			return err
		}
		api := &httpapi.Server{Store: db, PublicURL: *publicURL, Logger: logger, AccessLog: true,
			Registry: newRegistry(db), RateLimit: *rateLimit, RateBurst: *rateBurst, TrustedProxies: proxies,
			Ready: func(r *http.Request) error { return db.Ping(r.Context()) }}
		gate.Open(api.Handler())
		return nil
	}
	if db != nil {
		defer db.Close()
		if err := start(db); err != nil {
			ln.Close()
			return err
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())
	if db == nil {
		if db = openWithRetry(ctx, *dsn, logger); db != nil {
			defer db.Close()
			if err := start(db); err != nil {
				srv.Close()
				return err
			}
			logger.Info("database reachable; serving the API")
		}
	}

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openWithRetry opens the database, waiting longer after each failure, until
// it answers or ctx ends (then it returns nil).
func openWithRetry(ctx context.Context, dsn string, logger *slog.Logger) *sqlstore.DB {
	wait := 100 * time.Millisecond
	for {
		db, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
		if err == nil {
			return db
		}
		logger.Warn("database not reachable; retrying", "error", err.Error(), "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return nil
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
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, nil))
		}
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}
