package filter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	sb "switchboard"
	"switchboard/filter"
	"switchboard/sqlstore"
	"switchboard/sqlstore/sqlstoretest"
)

// The differential test stores a random data set through the real store and
// checks, for thousands of random filters, that the SQL the filter compiles
// to selects exactly the endpoints filter.Match selects.
func TestSQLMatchesReference(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (set FILTER_SEED to repeat)", seed)
	if s := os.Getenv("FILTER_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	filters := 2000
	if testing.Short() || raceEnabled {
		filters = 300
	}
	sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
		differential(t, sqlstoretest.Open(t, dsn), seed, filters)
	})
}

// pools of values the data set and the filters draw from, so that filters
// hit, miss, tie and straddle.
var (
	words     = []string{"alpha", "Alpha", "ALPHA", "beta", "b%ta", "b_ta", "gamma ray", `quo"te`, "it's", "é", "Éclair", "z", "", "a*b", "[x]", "10.0.0.1", "m"}
	types     = []string{"third_party", "conference", "flexml", "mediator", "voicemail", "conference_v2"}
	ips       = []string{"10.0.0.1", "10.0.0.2", "2001:db8::1", "pbx.example.com", "PBX.example.com", "10.0.0.10"}
	keys      = []string{"region", "tier", "Region", "k-1", "login", "api_url", "password", "container_sid", "greeting"}
	actions   = []string{"strip_plus", "add_prefix", "x", "add_prefix2"}
	operands  = []string{"1", "+1", "%", "_", "abc", "ABC", ""}
	positions = []string{"any", "inbound", "outbound"}
)

func pick[T any](r *rand.Rand, list []T) T { return list[r.IntN(len(list))] }

func maybe(r *rand.Rand, s string) *string {
	if r.IntN(3) == 0 {
		return nil
	}
	return &s
}

func randomEndpoint(r *rand.Rand, partner string) *sb.Endpoint {
	e := &sb.Endpoint{
		EndpointSID: sb.NewSID(), PartnerSID: partner, Type: sb.EndpointType(pick(r, types)),
		Name: pick(r, words) + pick(r, []string{"", "1", " 2", "_3"}), Capacity: int64(r.IntN(6)),
		AuthRequired: true, OutSIPUsername: maybe(r, pick(r, words)), Attributes: map[string]string{},
		Properties: sb.Properties{}, Addresses: []sb.Address{}, Transformations: []sb.Transformation{},
	}
	if e.Name == "" {
		e.Name = "N/A"
	}
	if r.IntN(2) == 0 {
		e.VoIPToken = maybe(r, sb.NewSID())
	}
	for range r.IntN(4) {
		e.Addresses = append(e.Addresses, sb.Address{
			Direction: pick(r, positions), DstPort: int64(5060 + r.IntN(3)), IP: strings.ToLower(pick(r, ips)),
			LocationSID: maybe(r, pick(r, words)), Port: int64(5060 + r.IntN(3)*10), Priority: int64(r.IntN(3)),
			SIPUsername: maybe(r, pick(r, words)), SRTP: r.IntN(2) == 0, Transport: pick(r, []string{"udp", "tcp", "tls"}),
		})
	}
	for range r.IntN(3) {
		e.Attributes[pick(r, keys)] = pick(r, words)
	}
	for range r.IntN(3) {
		e.Properties[pick(r, keys)] = maybe(r, pick(r, words))
	}
	for range r.IntN(3) {
		tr := sb.Transformation{Action: pick(r, actions), Direction: pick(r, positions), Operands: []string{}}
		for range r.IntN(3) {
			tr.Operands = append(tr.Operands, pick(r, operands))
		}
		e.Transformations = append(e.Transformations, tr)
	}
	return e
}

type fieldSpec struct {
	name string
	kind filter.Kind
	null bool
}

var fieldSpecs = []fieldSpec{
	{"name", filter.String, false}, {"type", filter.String, false}, {"capacity", filter.Integer, false},
	{"cps_limit", filter.Integer, true}, {"voip_token", filter.String, true}, {"auth_required", filter.Boolean, false},
	{"out_sip_username", filter.String, true}, {"endpoint_sid", filter.String, false},
	{"addresses.ip", filter.String, false}, {"addresses.port", filter.Integer, false}, {"addresses.dst_port", filter.Integer, false},
	{"addresses.priority", filter.Integer, false}, {"addresses.srtp", filter.Boolean, false}, {"addresses.transport", filter.String, false},
	{"addresses.direction", filter.String, false}, {"addresses.location_sid", filter.String, true}, {"addresses.sip_username", filter.String, true},
	{"transformations.action", filter.String, false}, {"transformations.direction", filter.String, false}, {"transformations.operands", filter.String, false},
}

func quoteValue(r *rand.Rand, s string) string {
	if r.IntN(2) == 0 {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return `'` + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + `'`
}

func randomValue(r *rand.Rand, f fieldSpec, op string) string {
	switch f.kind {
	case filter.Integer:
		return fmt.Sprint(pick(r, []int{0, 1, 2, 3, 5, 5060, 5070, 5080, 5061, -1}))
	case filter.Boolean:
		return pick(r, []string{"true", "false", "TRUE"})
	}
	pool := slices.Concat(words, types, ips, actions, operands, positions)
	s := pick(r, pool)
	if op == "like" || op == "ilike" {
		s = pick(r, []string{"%", "_", ""}) + s[:r.IntN(len(s)+1)] + pick(r, []string{"%", "_", ""})
	}
	return quoteValue(r, s)
}

func randomFilter(r *rand.Rand) string {
	var conds []string
	for range 1 + r.IntN(3) {
		f := pick(r, fieldSpecs)
		if r.IntN(5) == 0 {
			f = fieldSpec{pick(r, []string{"attributes.", "properties."}) + pick(r, keys[:len(keys)-1]), filter.String, true}
			if f.name == "properties.password" {
				f.name = "properties.greeting"
			}
		}
		ops := []string{"eq", "ne", "in", "notin"}
		if f.kind != filter.Boolean {
			ops = append(ops, "gt", "ge", "lt", "le")
		}
		if f.kind == filter.String {
			ops = append(ops, "like", "ilike", "like", "ilike")
		}
		op := pick(r, ops)
		switch {
		case (op == "eq" || op == "ne") && f.null && r.IntN(4) == 0:
			conds = append(conds, f.name+" "+op+" null")
		case op == "in" || op == "notin":
			var vals []string
			for range 1 + r.IntN(4) {
				vals = append(vals, randomValue(r, f, op))
			}
			conds = append(conds, f.name+" "+op+" ("+strings.Join(vals, ", ")+")")
		default:
			conds = append(conds, f.name+" "+op+" "+randomValue(r, f, op))
		}
	}
	return strings.Join(conds, " and ")
}

func differential(t *testing.T, db *sqlstore.DB, seed uint64, filters int) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 1))
	partner := sb.Partner{PartnerSID: sb.NewSID(), Name: "diff", Scopes: sb.Scopes{sb.ScopeManage}}
	if err := db.CreatePartner(ctx, partner, ""); err != nil {
		t.Fatal(err)
	}
	other := sb.Partner{PartnerSID: sb.NewSID(), Name: "other", Scopes: sb.Scopes{sb.ScopeManage}}
	if err := db.CreatePartner(ctx, other, ""); err != nil {
		t.Fatal(err)
	}
	var all []map[string]any // the JSON form, as clients see it
	for i := range 300 {
		owner := partner.PartnerSID
		if i%10 == 0 {
			owner = other.PartnerSID // never selected: tenancy holds under filters
		}
		e := randomEndpoint(r, owner)
		if login := e.Properties["login"]; login != nil {
			e.Properties["login"] = sbPtr(*login + fmt.Sprint(i)) // logins are unique
		}
		if err := db.CreateEndpoint(ctx, e); err != nil {
			t.Fatal(err)
		}
		if owner == partner.PartnerSID {
			all = append(all, jsonForm(t, e))
		}
	}
	hits := 0
	for range filters {
		text := randomFilter(r)
		x, err := filter.Parse(text)
		if err != nil {
			t.Fatalf("a generated filter did not parse: %s: %v", text, err)
		}
		var want []string
		for _, e := range all {
			if x.Match(e) {
				want = append(want, e["endpoint_sid"].(string))
			}
		}
		page, err := db.ListEndpoints(ctx, partner.PartnerSID, sb.ListQuery{Limit: 1000, Filter: x})
		if err != nil {
			t.Fatalf("filter %s: %v", text, err)
		}
		var got []string
		for _, e := range page.Items {
			got = append(got, e.EndpointSID)
		}
		if !slices.Equal(got, want) || page.Total != len(want) {
			t.Fatalf("seed %d, filter %s:\nSQL selects %d (total %d), the reference %d\nSQL only: %v\nreference only: %v",
				seed, text, len(got), page.Total, len(want), minus(got, want), minus(want, got))
		}
		if len(want) > 0 && len(want) < len(all) {
			hits++
		}
	}
	// Guard against a generator that only ever selects nothing or everything.
	if hits < filters/5 {
		t.Fatalf("only %d of %d filters selected a proper subset: the test would prove little", hits, filters)
	}
}

func jsonForm(t *testing.T, e *sb.Endpoint) map[string]any {
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func sbPtr(s string) *string { return &s }
