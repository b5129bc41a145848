package kamailio

import (
	"fmt"
	"slices"
	"strings"
)

// Difference is one way what Kamailio has loaded differs from what the
// database says it should have.
type Difference struct {
	Kind string // "missing" (in Kamailio), "unexpected" (in Kamailio), "different"
	What string
}

func (d Difference) String() string { return d.Kind + ": " + d.What }

// Diff compares the expected state with the loaded tables. Address records
// are compared whole (group, ip, port, tag); credentials by username, then
// HA1 and endpoint.
func Diff(want State, addrs []AddressEntry, creds []Credential) []Difference {
	var out []Difference
	loaded := map[addressKey][]AddressEntry{}
	for _, a := range addrs {
		loaded[a.key()] = append(loaded[a.key()], a)
	}
	for _, w := range want.Addresses {
		got := loaded[w.key()]
		delete(loaded, w.key())
		switch {
		case len(got) == 0:
			out = append(out, Difference{"missing", w.String()})
		case len(got) > 1 || got[0] != w:
			for _, g := range got {
				out = append(out, Difference{"different", fmt.Sprintf("%s, want tag %s", g, w.Tag)})
			}
		}
	}
	for _, list := range loaded {
		for _, g := range list {
			out = append(out, Difference{"unexpected", g.String()})
		}
	}

	byUser := map[string][]Credential{}
	for _, c := range creds {
		byUser[c.Username] = append(byUser[c.Username], c)
	}
	for _, w := range want.Credentials {
		got := byUser[w.Username]
		delete(byUser, w.Username)
		switch {
		case len(got) == 0:
			out = append(out, Difference{"missing", w.String()})
		case len(got) > 1 || got[0] != w:
			for _, g := range got {
				what := g.String()
				if g.HA1 != w.HA1 {
					what += ", with another password"
				}
				out = append(out, Difference{"different", fmt.Sprintf("%s, want endpoint %s partner %s", what, w.EndpointSID, w.PartnerSID)})
			}
		}
	}
	for _, list := range byUser {
		for _, g := range list {
			out = append(out, Difference{"unexpected", g.String()})
		}
	}
	slices.SortFunc(out, func(a, b Difference) int { return strings.Compare(a.String(), b.String()) })
	return out
}
