package kamailio

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
)

func str(s string) *string { return &s }

func endpoint(sid, partner string, authRequired bool, addrs ...sb.Address) *sb.Endpoint {
	return &sb.Endpoint{EndpointSID: sid, PartnerSID: partner, AuthRequired: authRequired, Type: sb.TypeThirdParty, Addresses: addrs}
}

func addr(ip string, port int64, transport string) sb.Address {
	return sb.Address{IP: ip, Port: port, Transport: transport, Direction: "any", DstPort: 5060}
}

func login(ip, user, password string) sb.Address {
	a := addr(ip, 5060, "udp")
	a.SIPUsername, a.SIPPassword = &user, &password
	return a
}

func TestStateMapping(t *testing.T) {
	gw := func(partner string) *sb.Endpoint {
		return sb.NewSystemGateway(partner, []sb.IPPort{{IP: "198.51.100.1", Port: 5060}})
	}
	tests := []struct {
		name      string
		endpoints []*sb.Endpoint
		addrs     []string // AddressEntry.String()
		creds     []string // Credential.String()
		problems  []string // Problem.Reason
	}{
		{
			name:      "IPv4, IPv6 and the transports' groups",
			endpoints: []*sb.Endpoint{endpoint("e1", "p1", false, addr("192.0.2.1", 5060, "udp"), addr("2001:db8::1", 5070, "tcp"), addr("192.0.2.1", 5061, "tls"))},
			addrs: []string{
				"address udp 192.0.2.1:5060 (group 1) tag e1,p1",
				"address tcp [2001:db8::1]:5070 (group 2) tag e1,p1",
				"address tls 192.0.2.1:5061 (group 3) tag e1,p1",
			},
		},
		{
			name:      "one ip:port listed twice in an endpoint is one record",
			endpoints: []*sb.Endpoint{endpoint("e1", "p1", false, addr("192.0.2.1", 5060, "udp"), addr("192.0.2.1", 5060, "udp"))},
			addrs:     []string{"address udp 192.0.2.1:5060 (group 1) tag e1,p1"},
		},
		{
			name: "several addresses, repeated after the first, and an IPv4-mapped one",
			endpoints: []*sb.Endpoint{endpoint("e1", "p1", false, addr("192.0.2.1", 5060, "udp"), addr("2001:db8::2", 5060, "udp"),
				addr("::ffff:192.0.2.3", 5060, "udp"), addr("2001:db8::2", 5060, "udp"), addr("192.0.2.1", 5060, "udp"))},
			addrs: []string{
				"address udp 192.0.2.1:5060 (group 1) tag e1,p1",
				"address udp 192.0.2.3:5060 (group 1) tag e1,p1",
				"address udp [2001:db8::2]:5060 (group 1) tag e1,p1",
			},
		},
		{
			name:      "an IPv6 zone is left out and reported",
			endpoints: []*sb.Endpoint{endpoint("e1", "p1", false, addr("fe80::1%eth0", 5060, "udp"), addr("fe80::1", 5060, "udp"))},
			addrs:     []string{"address udp [fe80::1]:5060 (group 1) tag e1,p1"},
			problems:  []string{"an IPv6 zone cannot be matched by source address"},
		},
		{
			name:      "a host name is left out and reported",
			endpoints: []*sb.Endpoint{endpoint("e1", "p1", false, addr("pbx.example.com", 5060, "udp"), addr("192.0.2.1", 5060, "udp"))},
			addrs:     []string{"address udp 192.0.2.1:5060 (group 1) tag e1,p1"},
			problems:  []string{ReasonHostName},
		},
		{
			name:      "system gateways of every partner are one record, the operator's",
			endpoints: []*sb.Endpoint{gw("p1"), gw("p2"), gw("p3")},
			addrs:     []string{"address udp 198.51.100.1:5060 (group 1) tag system_gateway,-"},
		},
		{
			name:      "an address shared by two endpoints admits neither",
			endpoints: []*sb.Endpoint{endpoint("e1", "p1", false, addr("192.0.2.1", 5060, "udp")), endpoint("e2", "p2", false, addr("192.0.2.1", 5060, "udp"))},
			problems:  []string{ReasonSharedAddress, ReasonSharedAddress},
		},
		{
			name:      "the same ip:port on two transports is two records",
			endpoints: []*sb.Endpoint{endpoint("e1", "p1", false, addr("192.0.2.1", 5060, "udp")), endpoint("e2", "p2", false, addr("192.0.2.1", 5060, "tcp"))},
			addrs:     []string{"address udp 192.0.2.1:5060 (group 1) tag e1,p1", "address tcp 192.0.2.1:5060 (group 2) tag e2,p2"},
		},
		{
			name:      "auth_required=true: credentials, never its addresses",
			endpoints: []*sb.Endpoint{endpoint("e1", "p1", true, login("192.0.2.1", "alice", "s3cret"), addr("192.0.2.2", 5060, "udp"))},
			creds:     []string{`credential "alice" endpoint e1 partner p1`},
		},
		{
			name:      "auth_required=false: its credentials are not used",
			endpoints: []*sb.Endpoint{endpoint("e1", "p1", false, login("192.0.2.1", "alice", "s3cret"))},
			addrs:     []string{"address udp 192.0.2.1:5060 (group 1) tag e1,p1"},
		},
		{
			name:      "a username without a password is reported",
			endpoints: []*sb.Endpoint{endpoint("e1", "p1", true, sb.Address{IP: "192.0.2.1", Port: 5060, Transport: "udp", SIPUsername: str("bob")})},
			problems:  []string{ReasonNoPassword},
		},
		{
			name:      "one username in two endpoints is nobody's credential",
			endpoints: []*sb.Endpoint{endpoint("e1", "p1", true, login("192.0.2.1", "alice", "x")), endpoint("e2", "p2", true, login("192.0.2.9", "alice", "x")), endpoint("e3", "p1", true, login("192.0.2.1", "carol", "y"))},
			creds:     []string{`credential "carol" endpoint e3 partner p1`},
			problems:  []string{ReasonAmbiguousUsername, ReasonAmbiguousUsername},
		},
		{
			name:      "one username with two passwords in one endpoint is left out",
			endpoints: []*sb.Endpoint{endpoint("e1", "p1", true, login("192.0.2.1", "alice", "x"), login("192.0.2.2", "alice", "y"))},
			problems:  []string{ReasonAmbiguousUsername, ReasonAmbiguousUsername},
		},
		{
			name:      "one username and password on two addresses of one endpoint is one credential",
			endpoints: []*sb.Endpoint{endpoint("e1", "p1", true, login("192.0.2.1", "alice", "x"), login("192.0.2.2", "alice", "x"))},
			creds:     []string{`credential "alice" endpoint e1 partner p1`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := NewTable("switchboard")
			for _, e := range tt.endpoints {
				table.Put(e)
			}
			s := table.State()
			if got := strs(s.Addresses); !slices.Equal(got, tt.addrs) {
				t.Errorf("addresses:\n got %q\nwant %q", got, tt.addrs)
			}
			if got := strs(s.Credentials); !slices.Equal(got, tt.creds) {
				t.Errorf("credentials:\n got %q\nwant %q", got, tt.creds)
			}
			var reasons []string
			for _, p := range s.Problems {
				reasons = append(reasons, p.Reason)
			}
			if !slices.Equal(reasons, tt.problems) {
				t.Errorf("problems:\n got %q\nwant %q", s.Problems, tt.problems)
			}
			// The agent's saved state gives the same table back.
			dir := t.TempDir()
			saved := &Agent{StateDir: dir, Realm: "switchboard", table: table, cursor: "p1"}
			if err := saved.save(); err != nil {
				t.Fatal(err)
			}
			loaded := &Agent{StateDir: dir, Realm: "switchboard"}
			if err := loaded.load(); err != nil {
				t.Fatal(err)
			}
			if got, want := fmt.Sprint(loaded.table.State()), fmt.Sprint(s); got != want {
				t.Errorf("after a save and a load:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// A credential left out as ambiguous comes back when the other holder goes.
func TestAmbiguousCredentialResolvesOnDelete(t *testing.T) {
	table := NewTable("r")
	table.Put(endpoint("e1", "p1", true, login("192.0.2.1", "alice", "x")))
	table.Put(endpoint("e2", "p2", true, login("192.0.2.2", "alice", "x")))
	if n := len(table.State().Credentials); n != 0 {
		t.Fatalf("%d credentials, want 0 while ambiguous", n)
	}
	table.Delete("e2")
	if got := strs(table.State().Credentials); !slices.Equal(got, []string{`credential "alice" endpoint e1 partner p1`}) {
		t.Fatalf("after delete: %q", got)
	}
}

func TestHA1(t *testing.T) {
	// RFC 2617 §3.5's example: Mufasa, testrealm@host.com, Circle Of Life.
	if got := HA1("Mufasa", "testrealm@host.com", "Circle Of Life"); got != "939e7578ed9e3c518a452acee763bce9" {
		t.Fatalf("HA1 = %s", got)
	}
}

func TestRenderFiles(t *testing.T) {
	addrs := RenderAddresses([]AddressEntry{{1, "192.0.2.1", 5060, "e1,p1"}, {2, "2001:db8::1", 5070, "e2,p2"}})
	want := "1 192.0.2.1 32 5060 e1,p1\n2 [2001:db8::1] 128 5070 e2,p2\n"
	if !strings.HasSuffix(string(addrs), want) {
		t.Errorf("address file:\n%s\nwant it to end with\n%s", addrs, want)
	}
	creds := RenderCredentials([]Credential{{Username: "a:b\\c\nd", HA1: "h", EndpointSID: "e", PartnerSID: "p"}})
	if want := "username(str) ha1(str) endpoint_sid(str) partner_sid(str)\na\\:b\\\\c\\nd:h:e:p\n"; string(creds) != want {
		t.Errorf("credentials table:\n%q\nwant\n%q", creds, want)
	}
}

func TestDiff(t *testing.T) {
	want := State{
		Addresses:   []AddressEntry{{1, "192.0.2.1", 5060, "e1,p1"}, {1, "192.0.2.2", 5060, "e2,p1"}},
		Credentials: []Credential{{"alice", "h1", "e3", "p1"}, {"bob", "h2", "e4", "p1"}},
	}
	if d := Diff(want, want.Addresses, want.Credentials); len(d) != 0 {
		t.Fatalf("same tables: %q", d)
	}
	got := Diff(want,
		[]AddressEntry{{1, "192.0.2.1", 5060, "e9,p1"}, {2, "192.0.2.3", 5060, "e5,p1"}},
		[]Credential{{"alice", "other", "e3", "p1"}, {"carol", "h3", "e6", "p2"}})
	kinds := map[string]int{}
	for _, d := range got {
		kinds[d.Kind]++
	}
	if kinds["missing"] != 2 || kinds["unexpected"] != 2 || kinds["different"] != 2 || len(got) != 6 {
		t.Fatalf("differences: %q", got)
	}
}

func strs[T interface{ String() string }](list []T) []string {
	var out []string
	for _, v := range list {
		out = append(out, v.String())
	}
	return out
}
