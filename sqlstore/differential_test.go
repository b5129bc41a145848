package sqlstore_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/filter"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// The differential tests store a random data set through the real store
// (its migrations, its INSERTs and search rows) and check for thousands of
// random filters that the list the store answers for each partner holds
// exactly the endpoints Match selects among that partner's. FILTER_SEED
// repeats a run; the seed is in every failure.

func TestDifferentialSQLite(t *testing.T) {
	differential(t, sqlstoretest.Open(t, sqlstoretest.SQLiteDSN(t)))
}

func TestDifferentialPostgres(t *testing.T) {
	differential(t, sqlstoretest.Open(t, sqlstoretest.PostgresDSN(t)))
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

func randomEndpoint(r *rand.Rand, i int, partners []string) *sb.Endpoint {
	e := &sb.Endpoint{
		EndpointSID: randomSID(r), PartnerSID: pick(r, partners), Type: sb.EndpointType(pick(r, types)),
		Name: pick(r, words) + pick(r, []string{"", "", "1", " 2", "_3", "%"}), Capacity: int64(pick(r, []int{0, 1, 2, 3, 5, 100})),
		AuthRequired: r.IntN(4) != 0, OutSIPUsername: maybe(r, pick(r, words)), OutSIPPassword: maybe(r, "secret"),
		Attributes: map[string]string{}, Properties: sb.Properties{}, Addresses: []sb.Address{}, Transformations: []sb.Transformation{},
	}
	if r.IntN(2) == 0 {
		e.CPSLimit = maybe(r, int64(r.IntN(4)))
	}
	if r.IntN(2) == 0 {
		e.VoIPToken = maybe(r, randomSID(r))
	}
	for range r.IntN(4) {
		e.Addresses = append(e.Addresses, sb.Address{
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
		tr := sb.Transformation{Action: pick(r, actions), Direction: pick(r, directions), Operands: []string{}}
		for range r.IntN(3) {
			tr.Operands = append(tr.Operands, pick(r, slices.Concat(words, []string{"+1", "1"})))
		}
		e.Transformations = append(e.Transformations, tr)
	}
	return e
}

type fieldSpec struct {
	name string
	kind filter.Kind
	null bool
	// values draws a value of the field from an endpoint of the data set
	// ("" and false when it has none).
	values func(r *rand.Rand, e *sb.Endpoint) (string, bool)
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

func top(f func(e *sb.Endpoint) *string) func(*rand.Rand, *sb.Endpoint) (string, bool) {
	return func(_ *rand.Rand, e *sb.Endpoint) (string, bool) {
		if p := f(e); p != nil {
			return *p, true
		}
		return "", false
	}
}

func addr(f func(a sb.Address) *string) func(*rand.Rand, *sb.Endpoint) (string, bool) {
	return func(r *rand.Rand, e *sb.Endpoint) (string, bool) { return some(r, e.Addresses, f) }
}

func tr(f func(x sb.Transformation) *string) func(*rand.Rand, *sb.Endpoint) (string, bool) {
	return func(r *rand.Rand, e *sb.Endpoint) (string, bool) { return some(r, e.Transformations, f) }
}

var fieldSpecs = []fieldSpec{
	{"endpoint_sid", filter.String, false, top(func(e *sb.Endpoint) *string { return &e.EndpointSID })},
	{"name", filter.String, false, top(func(e *sb.Endpoint) *string { return &e.Name })},
	{"name", filter.String, false, top(func(e *sb.Endpoint) *string { return &e.Name })},
	{"type", filter.String, false, top(func(e *sb.Endpoint) *string { return str(string(e.Type)) })},
	{"capacity", filter.Integer, false, top(func(e *sb.Endpoint) *string { return num(e.Capacity) })},
	{"cps_limit", filter.Integer, true, top(func(e *sb.Endpoint) *string {
		if e.CPSLimit == nil {
			return nil
		}
		return num(*e.CPSLimit)
	})},
	{"partner_sid", filter.String, false, top(func(e *sb.Endpoint) *string { return &e.PartnerSID })},
	{"voip_token", filter.String, true, top(func(e *sb.Endpoint) *string { return e.VoIPToken })},
	{"auth_required", filter.Boolean, false, top(func(e *sb.Endpoint) *string { return flag(e.AuthRequired) })},
	{"out_sip_username", filter.String, true, top(func(e *sb.Endpoint) *string { return e.OutSIPUsername })},
	{"addresses.direction", filter.String, false, addr(func(a sb.Address) *string { return &a.Direction })},
	{"addresses.dst_port", filter.Integer, false, addr(func(a sb.Address) *string { return num(a.DstPort) })},
	{"addresses.ip", filter.String, false, addr(func(a sb.Address) *string { return &a.IP })},
	{"addresses.ip", filter.String, false, addr(func(a sb.Address) *string { return &a.IP })},
	{"addresses.location_sid", filter.String, true, addr(func(a sb.Address) *string { return a.LocationSID })},
	{"addresses.port", filter.Integer, false, addr(func(a sb.Address) *string { return num(a.Port) })},
	{"addresses.priority", filter.Integer, false, addr(func(a sb.Address) *string { return num(a.Priority) })},
	{"addresses.sip_username", filter.String, true, addr(func(a sb.Address) *string { return a.SIPUsername })},
	{"addresses.srtp", filter.Boolean, false, addr(func(a sb.Address) *string { return flag(a.SRTP) })},
	{"addresses.transport", filter.String, false, addr(func(a sb.Address) *string { return &a.Transport })},
	{"transformations.action", filter.String, false, tr(func(x sb.Transformation) *string { return &x.Action })},
	{"transformations.direction", filter.String, false, tr(func(x sb.Transformation) *string { return &x.Direction })},
	{"transformations.operands", filter.String, false, func(r *rand.Rand, e *sb.Endpoint) (string, bool) {
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
		return fieldSpec{"attributes." + key, filter.String, true, func(_ *rand.Rand, e *sb.Endpoint) (string, bool) {
			v, ok := e.Attributes[key]
			return v, ok
		}}
	}
	return fieldSpec{"properties." + key, filter.String, true, func(_ *rand.Rand, e *sb.Endpoint) (string, bool) {
		if v := e.Properties[key]; v != nil {
			return *v, true
		}
		return "", false
	}}
}

// generator writes random filters over a data set.
type generator struct {
	r    *rand.Rand
	data []*sb.Endpoint
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

// store creates the data set through the store. An endpoint that skips
// SIP authentication and would take an (ip, port) another one holds is
// stored authenticating instead (the duplicate-IP rule refuses it).
func store(t *testing.T, db *sqlstore.DB, e *sb.Endpoint) {
	err := db.CreateEndpoint(ctx, e)
	if errors.Is(err, sb.ErrDuplicateIP) {
		e.AuthRequired = true
		err = db.CreateEndpoint(ctx, e)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// jsonForm is the endpoint as a client sees it, decoded as Match expects.
func jsonForm(t *testing.T, e *sb.Endpoint) map[string]any {
	dec := json.NewDecoder(bytes.NewReader([]byte(dump(e))))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// listed is the SIDs of the partner's endpoints a list with x answers, in
// list order (creation order).
func listed(t *testing.T, db *sqlstore.DB, partner string, x *filter.Expr) []string {
	page, err := sb.ListPage(ctx, db, partner, sb.ListQuery{Limit: 1000, Filter: x})
	if err != nil {
		t.Fatalf("filter %s: %v", x, err)
	}
	sids := make([]string, len(page.Items))
	for i, e := range page.Items {
		sids[i] = e.EndpointSID
	}
	return sids
}

func differential(t *testing.T, db *sqlstore.DB) {
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

	partners := []string{newPartner(t, db, "a").PartnerSID, newPartner(t, db, "b").PartnerSID}
	var data []*sb.Endpoint
	for i := range 300 {
		e := randomEndpoint(r, i, partners)
		store(t, db, e)
		data = append(data, e)
	}
	// The JSON forms Match reads are those of the endpoints as stored.
	forms := map[string]map[string]any{}
	for _, p := range partners {
		page, err := sb.ListPage(ctx, db, p, sb.ListQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			forms[e.EndpointSID] = jsonForm(t, e)
		}
	}
	if len(forms) != len(data) {
		t.Fatalf("%d endpoints stored, %d listed", len(data), len(forms))
	}

	owned := map[string]int{}
	for _, e := range data {
		owned[e.PartnerSID]++
	}
	g := &generator{r: r, data: data}
	proper := 0
	for range filters {
		properHere := false
		text := g.filter()
		x, err := sb.ParseFilter(text)
		if err != nil {
			t.Fatalf("seed %d: a generated filter does not parse: %s: %v", seed, text, err)
		}
		for _, p := range partners {
			var want []string
			for _, e := range data {
				if e.PartnerSID == p && x.Match(forms[e.EndpointSID]) {
					want = append(want, e.EndpointSID)
				}
			}
			got := listed(t, db, p, x)
			if !slices.Equal(got, want) {
				var diff strings.Builder
				for _, sid := range minus(got, want) {
					fmt.Fprintf(&diff, "\nstore only: %s", dump(forms[sid]))
				}
				for _, sid := range minus(want, got) {
					fmt.Fprintf(&diff, "\nMatch only: %s", dump(forms[sid]))
				}
				t.Fatalf("seed %d (FILTER_SEED=%d repeats it): filter %s\nthe store lists %d, Match selects %d:%s",
					seed, seed, text, len(got), len(want), diff.String())
			}
			properHere = properHere || len(want) > 0 && len(want) < owned[p]
		}
		if properHere {
			proper++
		}
	}
	// A generator that only ever selects nothing or everything proves little.
	if proper < filters/3 {
		t.Fatalf("seed %d: only %d of %d filters selected a proper subset", seed, proper, filters)
	}
	t.Logf("seed %d: %d filters, %d selected a proper subset", seed, filters, proper)
}

func minus(a, b []string) []string {
	var out []string
	for _, v := range a {
		if !slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}
