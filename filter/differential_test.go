package filter_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/switchboard-sip/switchboard/filter"
)

// The differential tests store a random data set in a real database, with
// the schema of the migrations, and check for thousands of random filters
// that the SQL a filter compiles to selects exactly the endpoints Match
// selects. FILTER_SEED repeats a run; the seed is in every failure.

const postgresEnv = "SWITCHBOARD_TEST_POSTGRES"

func TestDifferentialSQLite(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "filter.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	differential(t, &store{conn: conn, d: filter.SQLite}, "sqlite")
}

func TestDifferentialPostgres(t *testing.T) {
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		t.Skip(postgresEnv + " is not set")
	}
	ctx := context.Background()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// One connection, so that search_path holds for every statement.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b [8]byte
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	schema := "filter_test_" + hex.EncodeToString(b[:])
	if _, err := conn.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := conn.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping %s: %v", schema, err)
		}
	}()
	if _, err := conn.ExecContext(ctx, "SET search_path TO "+schema); err != nil {
		t.Fatal(err)
	}
	differential(t, &store{conn: conn, d: filter.Postgres}, "postgres")
}

// store runs statements written with "?" on either database.
type store struct {
	conn *sql.Conn
	d    filter.Dialect
}

// q rewrites ? to $n for PostgreSQL, as the Postgres store does.
func (s *store) q(query string) string {
	if s.d != filter.Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *store) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := s.conn.ExecContext(context.Background(), s.q(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// boolean is a boolean as the column holds it.
func (s *store) boolean(b bool) any {
	if s.d == filter.Postgres {
		return b
	}
	if b {
		return int64(1)
	}
	return int64(0)
}

// migrate applies the Up part of the dialect's first migration.
func (s *store) migrate(t *testing.T, dir string) {
	data, err := os.ReadFile(filepath.Join("..", "sqlstore", "migrations", dir, "00001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	up, _, _ := strings.Cut(string(data), "-- +goose Down")
	_, up, ok := strings.Cut(up, "-- +goose Up")
	if !ok {
		t.Fatal("the migration has no -- +goose Up")
	}
	var stmt strings.Builder
	for line := range strings.Lines(up) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		stmt.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			s.exec(t, stmt.String())
			stmt.Reset()
		}
	}
	if strings.TrimSpace(stmt.String()) != "" {
		t.Fatalf("the migration ends with an unterminated statement: %s", stmt.String())
	}
}

// The JSON form of an endpoint, as encoding/json writes it.
type address struct {
	Direction   string  `json:"direction"`
	DstPort     int64   `json:"dst_port"`
	IP          string  `json:"ip"`
	LocationSID *string `json:"location_sid"`
	Port        int64   `json:"port"`
	Priority    int64   `json:"priority"`
	SIPPassword *string `json:"sip_password"`
	SIPUsername *string `json:"sip_username"`
	SRTP        bool    `json:"srtp"`
	Transport   string  `json:"transport"`
}

type transformation struct {
	Action    string   `json:"action"`
	Direction string   `json:"direction"`
	Operands  []string `json:"operands"`
}

type endpoint struct {
	Addresses       []address          `json:"addresses"`
	Attributes      map[string]string  `json:"attributes"`
	AuthRequired    bool               `json:"auth_required"`
	Capacity        int64              `json:"capacity"`
	CPSLimit        *int64             `json:"cps_limit"`
	EndpointSID     string             `json:"endpoint_sid"`
	Name            string             `json:"name"`
	OutSIPPassword  *string            `json:"out_sip_password"`
	OutSIPUsername  *string            `json:"out_sip_username"`
	PartnerSID      string             `json:"partner_sid"`
	Properties      map[string]*string `json:"properties"`
	Transformations []transformation   `json:"transformations"`
	Type            string             `json:"type"`
	VoIPToken       *string            `json:"voip_token"`
}

// Pools the data and the filters draw from, so that filters hit, miss, tie
// and straddle; they hold the cases that break naive SQL: case (ASCII and
// not), LIKE and GLOB metacharacters, quotes, backslashes, JSON escapes,
// text that looks like numbers or keywords.
var (
	words = []string{"alpha", "Alpha", "ALPHA", "alphabeta", "beta", "b%ta", "b_ta", "b*ta", "b?ta", "[x]", "x]", "a[b",
		"gamma ray", `quo"te`, "it's", `back\slash`, "é", "É", "Éclair", "éclair", "ß", "SS", "\u212a", "k", "K", "☎ phone",
		"", " ", "z", "m", "M", "10.0.0.1", "5", "50", "-1", "null", "NULL", "true", "<&>", "%", "_", "tab\there", "日本"}
	types      = []string{"third_party", "conference", "flexml", "mediator", "voicemail", "conference_v2", "system_gateway"}
	ips        = []string{"10.0.0.1", "10.0.0.10", "10.0.0.2", "2001:db8::1", "fd00::a:1", "pbx.example.com", "a.b", "::ffff:1.2.3.4"}
	keys       = []string{"region", "Region", "tier", "k-1", "login", "api_url", "container_sid", "greeting"}
	actions    = []string{"strip_plus", "add_prefix", "x", "strip_plus2"}
	directions = []string{"any", "inbound", "outbound"}
	transports = []string{"udp", "tcp", "tls"}
)

func pick[T any](r *rand.Rand, list []T) T { return list[r.IntN(len(list))] }

// maybe is nil one time in three.
func maybe[T any](r *rand.Rand, v T) *T {
	if r.IntN(3) == 0 {
		return nil
	}
	return &v
}

func randomSID(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomEndpoint(r *rand.Rand, i int, partners []string) *endpoint {
	e := &endpoint{
		EndpointSID: randomSID(r), PartnerSID: pick(r, partners), Type: pick(r, types),
		Name: pick(r, words) + pick(r, []string{"", "", "1", " 2", "_3", "%"}), Capacity: int64(pick(r, []int{0, 1, 2, 3, 5, 100})),
		AuthRequired: r.IntN(4) != 0, OutSIPUsername: maybe(r, pick(r, words)), OutSIPPassword: maybe(r, "secret"),
		Attributes: map[string]string{}, Properties: map[string]*string{}, Addresses: []address{}, Transformations: []transformation{},
	}
	if r.IntN(2) == 0 {
		e.CPSLimit = maybe(r, int64(r.IntN(4)))
	}
	if r.IntN(2) == 0 {
		e.VoIPToken = maybe(r, randomSID(r))
	}
	for range r.IntN(4) {
		e.Addresses = append(e.Addresses, address{
			Direction: pick(r, directions), DstPort: int64(5060 + r.IntN(3)), IP: pick(r, ips),
			LocationSID: maybe(r, pick(r, words)), Port: int64(5060 + r.IntN(3)*10), Priority: int64(r.IntN(3)),
			SIPPassword: maybe(r, "secret"), SIPUsername: maybe(r, pick(r, words)), SRTP: r.IntN(2) == 0, Transport: pick(r, transports),
		})
	}
	for range r.IntN(4) {
		e.Attributes[pick(r, keys)] = pick(r, words)
	}
	for range r.IntN(4) {
		e.Properties[pick(r, slices.Concat(keys, []string{"password"}))] = maybe(r, pick(r, words))
	}
	if login := e.Properties["login"]; login != nil && r.IntN(4) == 0 {
		*login = "" // stored as a NULL login column
	}
	if login := e.Properties["login"]; login != nil && *login != "" {
		unique := *login + "#" + strconv.Itoa(i) // logins are unique
		e.Properties["login"] = &unique
	}
	for range r.IntN(3) {
		tr := transformation{Action: pick(r, actions), Direction: pick(r, directions), Operands: []string{}}
		for range r.IntN(3) {
			tr.Operands = append(tr.Operands, pick(r, slices.Concat(words, []string{"+1", "1"})))
		}
		e.Transformations = append(e.Transformations, tr)
	}
	return e
}

func mustJSON(t *testing.T, v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// insert writes an endpoint as the store does: its columns, its JSON
// documents, and the rows of endpoint_addresses and endpoint_attributes.
func (s *store) insert(t *testing.T, e *endpoint) int64 {
	var login any
	if l := e.Properties["login"]; l != nil && *l != "" {
		login = *l // the store writes NULL for a null or empty login
	}
	var id int64
	err := s.conn.QueryRowContext(context.Background(), s.q(`INSERT INTO endpoints (endpoint_sid, partner_sid, type, name, capacity, cps_limit,
		auth_required, out_sip_username, out_sip_password, voip_token, login, addresses, attributes, properties, transformations)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		e.EndpointSID, e.PartnerSID, e.Type, e.Name, e.Capacity, e.CPSLimit, s.boolean(e.AuthRequired),
		e.OutSIPUsername, e.OutSIPPassword, e.VoIPToken, login,
		mustJSON(t, e.Addresses), mustJSON(t, e.Attributes), mustJSON(t, e.Properties), mustJSON(t, e.Transformations)).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range e.Addresses {
		s.exec(t, `INSERT INTO endpoint_addresses (endpoint_id, position, direction, dst_port, ip, location_sid, port, priority, sip_username, srtp, transport)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, i, a.Direction, a.DstPort, a.IP, a.LocationSID, a.Port, a.Priority, a.SIPUsername, s.boolean(a.SRTP), a.Transport)
	}
	for k, v := range e.Attributes {
		s.exec(t, `INSERT INTO endpoint_attributes (endpoint_id, key, value) VALUES (?, ?, ?)`, id, k, v)
	}
	return id
}

// jsonForm is the endpoint as a client sees it, decoded as Match expects.
func jsonForm(t *testing.T, e *endpoint) map[string]any {
	dec := json.NewDecoder(bytes.NewReader([]byte(mustJSON(t, e))))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

type fieldSpec struct {
	name string
	kind filter.Kind
	null bool
	// values draws a value of the field from an endpoint of the data set
	// ("" and false when it has none).
	values func(r *rand.Rand, e *endpoint) (string, bool)
}

func some[T any](r *rand.Rand, list []T, f func(T) *string) (string, bool) {
	if len(list) == 0 {
		return "", false
	}
	if p := f(pick(r, list)); p != nil {
		return *p, true
	}
	return "", false
}

func str(s string) *string { return &s }

func num(n int64) *string { return str(strconv.FormatInt(n, 10)) }

func flag(b bool) *string { return str(strconv.FormatBool(b)) }

func top(f func(e *endpoint) *string) func(*rand.Rand, *endpoint) (string, bool) {
	return func(_ *rand.Rand, e *endpoint) (string, bool) {
		if p := f(e); p != nil {
			return *p, true
		}
		return "", false
	}
}

func addr(f func(a address) *string) func(*rand.Rand, *endpoint) (string, bool) {
	return func(r *rand.Rand, e *endpoint) (string, bool) { return some(r, e.Addresses, f) }
}

func tr(f func(x transformation) *string) func(*rand.Rand, *endpoint) (string, bool) {
	return func(r *rand.Rand, e *endpoint) (string, bool) { return some(r, e.Transformations, f) }
}

var fieldSpecs = []fieldSpec{
	{"endpoint_sid", filter.String, false, top(func(e *endpoint) *string { return &e.EndpointSID })},
	{"name", filter.String, false, top(func(e *endpoint) *string { return &e.Name })},
	{"name", filter.String, false, top(func(e *endpoint) *string { return &e.Name })},
	{"type", filter.String, false, top(func(e *endpoint) *string { return &e.Type })},
	{"capacity", filter.Integer, false, top(func(e *endpoint) *string { return num(e.Capacity) })},
	{"cps_limit", filter.Integer, true, top(func(e *endpoint) *string {
		if e.CPSLimit == nil {
			return nil
		}
		return num(*e.CPSLimit)
	})},
	{"partner_sid", filter.String, false, top(func(e *endpoint) *string { return &e.PartnerSID })},
	{"voip_token", filter.String, true, top(func(e *endpoint) *string { return e.VoIPToken })},
	{"auth_required", filter.Boolean, false, top(func(e *endpoint) *string { return flag(e.AuthRequired) })},
	{"out_sip_username", filter.String, true, top(func(e *endpoint) *string { return e.OutSIPUsername })},
	{"addresses.direction", filter.String, false, addr(func(a address) *string { return &a.Direction })},
	{"addresses.dst_port", filter.Integer, false, addr(func(a address) *string { return num(a.DstPort) })},
	{"addresses.ip", filter.String, false, addr(func(a address) *string { return &a.IP })},
	{"addresses.ip", filter.String, false, addr(func(a address) *string { return &a.IP })},
	{"addresses.location_sid", filter.String, true, addr(func(a address) *string { return a.LocationSID })},
	{"addresses.port", filter.Integer, false, addr(func(a address) *string { return num(a.Port) })},
	{"addresses.priority", filter.Integer, false, addr(func(a address) *string { return num(a.Priority) })},
	{"addresses.sip_username", filter.String, true, addr(func(a address) *string { return a.SIPUsername })},
	{"addresses.srtp", filter.Boolean, false, addr(func(a address) *string { return flag(a.SRTP) })},
	{"addresses.transport", filter.String, false, addr(func(a address) *string { return &a.Transport })},
	{"transformations.action", filter.String, false, tr(func(x transformation) *string { return &x.Action })},
	{"transformations.direction", filter.String, false, tr(func(x transformation) *string { return &x.Direction })},
	{"transformations.operands", filter.String, false, func(r *rand.Rand, e *endpoint) (string, bool) {
		if len(e.Transformations) == 0 {
			return "", false
		}
		return some(r, pick(r, e.Transformations).Operands, func(s string) *string { return &s })
	}},
}

// keyed are the attributes.<key> and properties.<key> fields.
func keyed(r *rand.Rand) fieldSpec {
	key := pick(r, slices.Concat(keys, []string{"absent_key"}))
	if r.IntN(2) == 0 {
		return fieldSpec{"attributes." + key, filter.String, true, func(_ *rand.Rand, e *endpoint) (string, bool) {
			v, ok := e.Attributes[key]
			return v, ok
		}}
	}
	return fieldSpec{"properties." + key, filter.String, true, func(_ *rand.Rand, e *endpoint) (string, bool) {
		if v := e.Properties[key]; v != nil {
			return *v, true
		}
		return "", false
	}}
}

// generator writes random filters over a data set.
type generator struct {
	r    *rand.Rand
	data []*endpoint
}

// keyword writes a keyword in a random case.
func (g *generator) keyword(s string) string {
	switch g.r.IntN(4) {
	case 0:
		return strings.ToUpper(s)
	case 1:
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}

func bare(s string) bool {
	if s == "" || strings.EqualFold(s, "null") {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("_-.:@+/", r) {
			return false
		}
	}
	return true
}

// literal writes text as a bare word when it can be one, else quoted.
func (g *generator) literal(s string) string {
	if bare(s) && g.r.IntN(2) == 0 {
		return s
	}
	q := pick(g.r, []string{`"`, `'`})
	var b strings.Builder
	b.WriteString(q)
	for _, r := range s {
		if r == '\\' || string(r) == q || (r == '"' || r == '\'') && g.r.IntN(2) == 0 {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteString(q)
	return b.String()
}

// text is a value for a field: one from the data, or one from the pools.
func (g *generator) text(f fieldSpec) string {
	if g.r.IntN(3) != 0 {
		for range 5 {
			if v, ok := f.values(g.r, pick(g.r, g.data)); ok {
				return v
			}
		}
	}
	switch f.kind {
	case filter.Integer:
		return strconv.Itoa(pick(g.r, []int{-1, 0, 1, 2, 3, 4, 5, 7, 100, 5059, 5060, 5061, 5062, 5070, 5080, 5090,
			math.MinInt64, math.MaxInt64, math.MaxInt32 + 1, math.MinInt32 - 1}))
	case filter.Boolean:
		return pick(g.r, []string{"true", "false"})
	}
	if g.r.IntN(10) == 0 {
		return ""
	}
	return pick(g.r, slices.Concat(words, types, ips, actions, directions, transports, []string{"PBX.Example.COM", "2001:DB8::1", randomSID(g.r)}))
}

func (g *generator) value(f fieldSpec) string {
	s := g.text(f)
	switch f.kind {
	case filter.Integer:
		if g.r.IntN(8) == 0 {
			return `"` + s + `"`
		}
		return s
	case filter.Boolean:
		return g.keyword(s)
	}
	return g.literal(s)
}

// pattern is a like pattern cut from a value: wildcards around and inside it,
// and its ASCII case changed now and then.
func (g *generator) pattern(f fieldSpec) string {
	runes := []rune(g.text(f))
	from := g.r.IntN(len(runes) + 1)
	to := from + g.r.IntN(len(runes)-from+1)
	if g.r.IntN(3) == 0 {
		from, to = 0, len(runes)
	}
	part := runes[from:to]
	for i := range part {
		if g.r.IntN(6) == 0 {
			part[i] = '_'
		}
	}
	s := string(part)
	if g.r.IntN(4) == 0 {
		s = strings.ToUpper(s)
	}
	if from > 0 || g.r.IntN(3) == 0 {
		s = pick(g.r, []string{"%", "_", "%%"}) + s
	}
	if to < len(runes) || g.r.IntN(3) == 0 {
		s += pick(g.r, []string{"%", "_"})
	}
	return g.literal(s)
}

func (g *generator) cond() string {
	f := pick(g.r, fieldSpecs)
	if g.r.IntN(4) == 0 {
		f = keyed(g.r)
	}
	ops := []string{"eq", "ne", "in", "notin"}
	switch f.kind {
	case filter.String:
		ops = append(ops, "gt", "ge", "lt", "le", "like", "ilike", "like", "ilike")
	case filter.Integer:
		ops = append(ops, "gt", "ge", "lt", "le")
	}
	op := pick(g.r, ops)
	switch {
	case (op == "eq" || op == "ne") && f.null && g.r.IntN(4) == 0:
		return f.name + " " + g.keyword(op) + " " + g.keyword("null")
	case op == "in" || op == "notin":
		var vals []string
		for range 1 + g.r.IntN(4) {
			vals = append(vals, g.value(f))
		}
		return f.name + " " + g.keyword(op) + " (" + strings.Join(vals, pick(g.r, []string{", ", ",", " , "})) + ")"
	case op == "like" || op == "ilike":
		return f.name + " " + g.keyword(op) + " " + g.pattern(f)
	}
	return f.name + " " + g.keyword(op) + " " + g.value(f)
}

func (g *generator) filter() string {
	conds := []string{g.cond()}
	for g.r.IntN(3) == 0 && len(conds) < 4 {
		conds = append(conds, g.cond())
	}
	return strings.Join(conds, " "+g.keyword("and")+" ")
}

func differential(t *testing.T, s *store, migrations string) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("FILTER_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("FILTER_SEED: %v", err)
		}
	}
	filters := 3000
	if testing.Short() || raceEnabled {
		filters = 300
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	ctx := context.Background()

	s.migrate(t, migrations)
	partners := []string{randomSID(r), randomSID(r)}
	for _, p := range partners {
		s.exec(t, `INSERT INTO partners (partner_sid, name, scopes, created_at) VALUES (?, ?, ?, ?)`, p, "p", "endpoints.manage", "2026-01-01T00:00:00Z")
	}
	var data []*endpoint
	forms := map[int64]map[string]any{}
	var ids []int64
	for i := range 300 {
		e := randomEndpoint(r, i, partners)
		id := s.insert(t, e)
		data = append(data, e)
		forms[id] = jsonForm(t, e)
		ids = append(ids, id)
	}

	g := &generator{r: r, data: data}
	proper := 0
	for range filters {
		text := g.filter()
		x, err := filter.Parse(text)
		if err != nil {
			t.Fatalf("seed %d: a generated filter does not parse: %s: %v", seed, text, err)
		}
		var want []int64
		for _, id := range ids {
			if x.Match(forms[id]) {
				want = append(want, id)
			}
		}
		cond, args := x.SQL(s.d)
		rows, err := s.conn.QueryContext(ctx, s.q("SELECT e.id FROM endpoints e WHERE "+cond+" ORDER BY e.id"), args...)
		if err != nil {
			t.Fatalf("seed %d: filter %s\nSQL %s %v: %v", seed, text, cond, args, err)
		}
		var got []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			got = append(got, id)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			var diff strings.Builder
			for _, id := range minus(got, want) {
				fmt.Fprintf(&diff, "\nSQL only: %s", mustJSON(t, forms[id]))
			}
			for _, id := range minus(want, got) {
				fmt.Fprintf(&diff, "\nMatch only: %s", mustJSON(t, forms[id]))
			}
			t.Fatalf("seed %d (FILTER_SEED=%d repeats it): filter %s\nSQL %s %q\nSQL selects %d, Match %d:%s",
				seed, seed, text, cond, args, len(got), len(want), diff.String())
		}
		if len(want) > 0 && len(want) < len(ids) {
			proper++
		}
	}
	// A generator that only ever selects nothing or everything proves little.
	if proper < filters/3 {
		t.Fatalf("seed %d: only %d of %d filters selected a proper subset", seed, proper, filters)
	}
	t.Logf("seed %d: %d filters, %d selected a proper subset", seed, filters, proper)
}

func minus(a, b []int64) []int64 {
	var out []int64
	for _, v := range a {
		if !slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}
