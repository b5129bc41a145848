package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
)

var ctx = context.Background()

// benchSize is the number of endpoints of the one partner the benchmarks
// read (issue: "100k endpoints in one partner").
const benchSize = 100_000

// benchData is a database seeded once per benchmark run and backend.
type benchData struct {
	db      *DB
	partner string
	sids    []string
}

var (
	benchMu    sync.Mutex
	benchCache = map[string]*benchData{}
)

// seeded returns the backend's seeded database, building it on first use
// (in one transaction: the benchmark measures reads, not the seeding).
func seeded(b *testing.B, backend string) *benchData {
	benchMu.Lock()
	defer benchMu.Unlock()
	if d := benchCache[backend]; d != nil {
		return d
	}
	db := openBench(b, backend)
	d := &benchData{db: db, partner: sb.NewSID()}
	if err := db.CreatePartner(ctx, sb.Partner{PartnerSID: d.partner, Name: "bench", Scopes: sb.Scopes{sb.ScopeManage}}, ""); err != nil {
		b.Fatal(err)
	}
	types := []sb.EndpointType{sb.TypeThirdParty, sb.TypeConference, sb.TypeFlexML, sb.TypeMediator, sb.TypeVoicemail, sb.TypeConferenceV2}
	regions := []string{"eu", "us", "apac", "latam", "mea"}
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for i := range benchSize {
			e := &sb.Endpoint{
				EndpointSID: sb.NewSID(), PartnerSID: d.partner, Type: types[i%len(types)],
				Name: fmt.Sprintf("endpoint-%06d", i), Capacity: int64(i % 100), AuthRequired: true,
				Attributes: map[string]string{"region": regions[i%len(regions)]}, Properties: sb.Properties{},
				Addresses: []sb.Address{{Direction: "any", DstPort: 5060, IP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
					Port: 5060, Transport: "udp"}},
				Transformations: []sb.Transformation{},
			}
			if err := db.insertCounted(ctx, tx, e); err != nil {
				return err
			}
			d.sids = append(d.sids, e.EndpointSID)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	analyze(db)
	benchCache[backend] = d
	return d
}

// openBench opens a new database of the backend for a benchmark.
func openBench(b *testing.B, backend string) *DB {
	var db *DB
	var err error
	switch backend {
	case "sqlite":
		dir, _ := os.MkdirTemp("", "switchboard-bench-")
		db, err = Open(ctx, "sqlite:"+filepath.Join(dir, "bench.db"), Options{})
	case "postgres":
		db, err = openBenchPostgres(os.Getenv("SWITCHBOARD_TEST_POSTGRES"))
	}
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// analyze gives the planner statistics (and, on PostgreSQL, a visibility
// map), as autovacuum would give a production database after a while.
func analyze(db *DB) {
	if _, ok := db.dialect.(postgresDialect); ok {
		db.write.Exec(`VACUUM ANALYZE`)
	} else {
		db.write.Exec(`ANALYZE`)
	}
}

func openBenchPostgres(dsn string) (*DB, error) {
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	schema := fmt.Sprintf("bench_%d", os.Getpid())
	admin.Exec(`DROP SCHEMA IF EXISTS ` + schema + ` CASCADE`)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		return nil, err
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return Open(ctx, dsn+sep+"search_path="+schema, Options{})
}

func benchBackends(b *testing.B, run func(b *testing.B, d *benchData)) {
	backends := []string{"sqlite"}
	if os.Getenv("SWITCHBOARD_TEST_POSTGRES") != "" {
		backends = append(backends, "postgres")
	}
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) { run(b, seeded(b, backend)) })
	}
}

// BenchmarkList reads the first page (limit=100, with the exact total) of a
// 100k-endpoint partner: unfiltered (the baseline) and with filters.
func BenchmarkList(b *testing.B) {
	cases := []struct{ name, filter string }{
		{"baseline_no_filter", ""},
		{"name_eq", `name eq endpoint-054321`},
		{"type_eq", `type eq flexml`},
		{"endpoint_sid_eq", ""}, // filled in below: needs a SID of the data set
		{"addresses_ip_eq", `addresses.ip eq 10.0.212.49`},
		{"attributes_eq", `attributes.region eq apac`},
		{"like_prefix", `name like "endpoint-0543%"`},
		{"like_contains", `name like "%4321%"`},
	}
	benchBackends(b, func(b *testing.B, d *benchData) {
		for _, c := range cases {
			text := c.filter
			if c.name == "endpoint_sid_eq" {
				text = `endpoint_sid eq "` + d.sids[54321] + `"`
			}
			q := sb.ListQuery{Limit: 100}
			if text != "" {
				x, err := sb.ParseFilter(text)
				if err != nil {
					b.Fatal(err)
				}
				q.Filter = x
			}
			b.Run(c.name, func(b *testing.B) {
				for b.Loop() {
					page, err := sb.ListPage(ctx, d.db, d.partner, q)
					if err != nil {
						b.Fatal(err)
					}
					if q.Filter == nil && page.Total != benchSize {
						b.Fatalf("total %d, want %d", page.Total, benchSize)
					}
				}
			})
		}
	})
}

// BenchmarkGet reads one endpoint by SID from the 100k data set.
func BenchmarkGet(b *testing.B) {
	benchBackends(b, func(b *testing.B, d *benchData) {
		i := 0
		for b.Loop() {
			if _, err := d.db.Endpoint(ctx, d.partner, d.sids[i%len(d.sids)]); err != nil {
				b.Fatal(err)
			}
			i += 7919
		}
	})
}

// BenchmarkListDeep reads a page 1,000 pages deep through an after cursor,
// next to the first page.
func BenchmarkListDeep(b *testing.B) {
	benchBackends(b, func(b *testing.B, d *benchData) {
		b.Run("first_page", func(b *testing.B) {
			for b.Loop() {
				sb.ListPage(ctx, d.db, d.partner, sb.ListQuery{Limit: 10})
			}
		})
		b.Run("after_1000_pages", func(b *testing.B) {
			for b.Loop() {
				sb.ListPage(ctx, d.db, d.partner, sb.ListQuery{Limit: 10, After: d.sids[10_000-1]})
			}
		})
	})
}

// Issue 11: a list's cost is bounded by the caller's own rows. The caller
// has underOthersOwn endpoints and other partners underOthersOthers, all
// alike (addresses, attributes and transformations on every one), so a
// subquery that is not scoped to the caller pays for the others' rows.
const (
	underOthersOwn    = 1_000
	underOthersOthers = 10_000
	underOthersPeers  = 10 // the others' partners
)

var (
	underOthersMu    sync.Mutex
	underOthersCache = map[string]*benchData{}
)

func seededUnderOthers(b *testing.B, backend string) *benchData {
	underOthersMu.Lock()
	defer underOthersMu.Unlock()
	if d := underOthersCache[backend]; d != nil {
		return d
	}
	db := openBench(b, backend)
	partners := make([]string, 1+underOthersPeers)
	for i := range partners {
		partners[i] = sb.NewSID()
		if err := db.CreatePartner(ctx, sb.Partner{PartnerSID: partners[i], Name: "bench", Scopes: sb.Scopes{sb.ScopeManage}}, ""); err != nil {
			b.Fatal(err)
		}
	}
	d := &benchData{db: db, partner: partners[0]}
	regions := []string{"eu", "us", "apac", "latam", "mea"}
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for i := range underOthersOwn + underOthersOthers {
			partner := partners[0]
			if i >= underOthersOwn {
				partner = partners[1+i%underOthersPeers]
			}
			e := &sb.Endpoint{
				EndpointSID: sb.NewSID(), PartnerSID: partner, Type: sb.TypeThirdParty,
				Name: fmt.Sprintf("endpoint-%06d", i), Capacity: int64(i % 100), AuthRequired: true,
				Attributes: map[string]string{"region": regions[i%len(regions)], "tier": fmt.Sprintf("t%03d", i%1000)},
				Properties: sb.Properties{},
				Addresses: []sb.Address{
					{Direction: "any", DstPort: 5060, IP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), Port: 5060, Transport: "udp"},
					{Direction: "inbound", DstPort: 5060, IP: fmt.Sprintf("172.16.%d.%d", i>>8&255, i&255), Port: 5080, Transport: "tcp"},
				},
				Transformations: []sb.Transformation{{Action: "strip_plus", Direction: "any", Operands: []string{}}},
			}
			if err := db.insertCounted(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	analyze(db)
	underOthersCache[backend] = d
	return d
}

// BenchmarkListUnderOthers reads the first page (limit=100, with the exact
// total) of the caller's 1,000 endpoints with the filter shapes whose
// subqueries could reach the others' 10,000 (issue 11: each ≤ 50 ms on
// SQLite).
func BenchmarkListUnderOthers(b *testing.B) {
	cases := []struct{ name, filter string }{
		{"baseline_no_filter", ""},
		{"addresses_ip_eq", `addresses.ip eq 10.0.1.44`},
		{"addresses_ip_ne", `addresses.ip ne 10.0.1.44`},
		{"addresses_ip_notin", `addresses.ip notin (10.0.1.44, 10.0.1.45, 172.16.0.9)`},
		{"addresses_ip_like", `addresses.ip like "10.0.%"`},
		{"addresses_port_ge", `addresses.port ge 5070`},
		{"attributes_range", `attributes.tier ge t100 and attributes.tier lt t900`},
		{"attributes_like", `attributes.tier like "t1%"`},
		{"attributes_ne", `attributes.region ne eu`},
		{"attributes_in", `attributes.region in (eu, us)`},
		{"transformations_eq", `transformations.action eq strip_plus`},
		{"three_tables_and", `addresses.ip ne 10.0.1.44 and attributes.region ge apac and transformations.action eq strip_plus`},
	}
	backends := []string{"sqlite"}
	if os.Getenv("SWITCHBOARD_TEST_POSTGRES") != "" {
		backends = append(backends, "postgres")
	}
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			d := seededUnderOthers(b, backend)
			for _, c := range cases {
				q := sb.ListQuery{Limit: 100}
				if c.filter != "" {
					x, err := sb.ParseFilter(c.filter)
					if err != nil {
						b.Fatal(err)
					}
					q.Filter = x
				}
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						if _, err := sb.ListPage(ctx, d.db, d.partner, q); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// insertCounted stores a seeded endpoint as a create does, without its
// change record: the row and the kept counts (counts.go).
func (db *DB) insertCounted(ctx context.Context, tx *sql.Tx, e *sb.Endpoint) error {
	if err := db.insertEndpoint(ctx, tx, e); err != nil {
		return err
	}
	return db.keepCounts(ctx, tx, []pendingChange{{operation: sb.ChangeCreated, endpoint: e}})
}
