// Package kamailio carries Switchboard's endpoints to a Kamailio SIP proxy:
// the mapping of endpoints to Kamailio's data (this file), the files Kamailio
// loads (files.go), its JSON-RPC (rpc.go), the sync agent that follows the
// operators' change feed (agent.go) and the drift check (check.go).
//
// Kamailio (deploy/kamailio/kamailio.cfg) admits a request
//   - by source address: the permissions module's address table, one record
//     (group, ip, port, tag) per address of an endpoint with
//     auth_required=false, the group naming the transport;
//   - by digest credentials: an htable keyed by SIP username whose value
//     holds HA1 = MD5(username:realm:password) and the endpoint, one entry
//     per sip_username/sip_password of an address of an endpoint with
//     auth_required=true.
package kamailio

import (
	"cmp"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	sb "github.com/switchboard-sip/switchboard"
)

// transportGroups maps an address's transport to the permissions group the
// configuration checks for requests received on that transport (the address
// table has no protocol column; its group is what kamailio.cfg selects by
// $proto).
var transportGroups = []struct {
	Transport string
	Group     int
}{
	{"udp", 1},
	{"tcp", 2},
	{"tls", 3},
}

func groupOf(transport string) (int, bool) {
	for _, t := range transportGroups {
		if t.Transport == transport {
			return t.Group, true
		}
	}
	return 0, false
}

// SystemGatewayTag is the tag of an address of the operator's system
// gateways: every partner has a system_gateway endpoint with the same
// addresses (they do not hold them against each other), so a request from
// one is the operator's own gateway, not any one partner's endpoint.
const SystemGatewayTag = "system_gateway,-"

// AddressEntry is one record of Kamailio's address table.
type AddressEntry struct {
	Group int
	IP    string // canonical (netip) form, IPv4 or IPv6
	Port  int64
	// Tag is "<endpoint_sid>,<partner_sid>" (or SystemGatewayTag): what
	// kamailio.cfg splits into $var(sb_endpoint) and $var(sb_partner).
	Tag string
}

func (a AddressEntry) key() addressKey { return addressKey{a.Group, a.IP, a.Port} }

func (a AddressEntry) String() string {
	return fmt.Sprintf("address %s %s (group %d) tag %s", transportName(a.Group), net.JoinHostPort(a.IP, strconv.FormatInt(a.Port, 10)), a.Group, a.Tag)
}

func transportName(group int) string {
	for _, t := range transportGroups {
		if t.Group == group {
			return t.Transport
		}
	}
	return fmt.Sprintf("group%d", group)
}

type addressKey struct {
	Group int
	IP    string
	Port  int64
}

// Credential is one entry of Kamailio's credentials table.
type Credential struct {
	Username    string
	HA1         string // hex MD5(username:realm:password)
	EndpointSID string
	PartnerSID  string
}

func (c Credential) String() string {
	return fmt.Sprintf("credential %q endpoint %s partner %s", c.Username, c.EndpointSID, c.PartnerSID)
}

// HA1 is the digest HA1 of RFC 2617: what Kamailio's pv_auth_check compares
// with (flag 1), so that no password is written to Kamailio's files.
func HA1(username, realm, password string) string {
	sum := md5.Sum([]byte(username + ":" + realm + ":" + password))
	return hex.EncodeToString(sum[:])
}

// Problem is something of an endpoint that is not carried to Kamailio, and
// why.
type Problem struct {
	PartnerSID  string
	EndpointSID string
	What        string // the address or credential concerned
	Reason      string
}

func (p Problem) String() string {
	return fmt.Sprintf("partner %s endpoint %s: %s: %s", p.PartnerSID, p.EndpointSID, p.What, p.Reason)
}

// Reasons a Problem gives.
const (
	ReasonHostName          = "a host name cannot be matched by source address: not admitted (give the endpoint an IP address)"
	ReasonNoPassword        = "sip_username without sip_password: no credential"
	ReasonAmbiguousUsername = "sip_username is used by several endpoints (or with several passwords): no credential for any of them"
	ReasonSharedAddress     = "ip:port is held by several auth_required=false endpoints: admitted for none of them"
)

// contribution is what one endpoint adds to Kamailio's data: the compact
// form the agent keeps for each endpoint (not the endpoint itself), so that
// 100k endpoints take little memory.
type contribution struct {
	partnerSID string
	addresses  []AddressEntry
	creds      []Credential
	problems   []Problem
}

// contribute maps one endpoint.
func contribute(e *sb.Endpoint, realm string) contribution {
	c := contribution{partnerSID: e.PartnerSID}
	tag := e.EndpointSID + "," + e.PartnerSID
	if e.Type == sb.TypeSystemGateway {
		tag = SystemGatewayTag
	}
	problem := func(what, reason string) {
		c.problems = append(c.problems, Problem{PartnerSID: e.PartnerSID, EndpointSID: e.EndpointSID, What: what, Reason: reason})
	}
	for _, a := range e.Addresses {
		if !e.AuthRequired {
			ip, err := netip.ParseAddr(a.IP)
			if err != nil {
				problem("address "+a.IP, ReasonHostName)
				continue
			}
			group, ok := groupOf(a.Transport)
			if !ok {
				problem("address "+a.IP, "transport "+a.Transport+" has no permissions group")
				continue
			}
			entry := AddressEntry{Group: group, IP: ip.Unmap().String(), Port: a.Port, Tag: tag}
			if !slices.Contains(c.addresses, entry) {
				c.addresses = append(c.addresses, entry)
			}
			continue
		}
		if a.SIPUsername == nil || *a.SIPUsername == "" {
			continue // an address the endpoint is reached at, not a login
		}
		if a.SIPPassword == nil {
			problem(fmt.Sprintf("sip_username %q", *a.SIPUsername), ReasonNoPassword)
			continue
		}
		cred := Credential{Username: *a.SIPUsername, HA1: HA1(*a.SIPUsername, realm, *a.SIPPassword), EndpointSID: e.EndpointSID, PartnerSID: e.PartnerSID}
		if !slices.Contains(c.creds, cred) {
			c.creds = append(c.creds, cred)
		}
	}
	return c
}

// Table is every endpoint's contribution, by endpoint SID: the state the
// agent keeps in step with the change feed and renders into Kamailio's
// files.
type Table struct {
	realm      string
	byEndpoint map[string]contribution
}

// NewTable is an empty table for credentials of the digest realm.
func NewTable(realm string) *Table {
	return &Table{realm: realm, byEndpoint: map[string]contribution{}}
}

// Put sets an endpoint's current state (create or update).
func (t *Table) Put(e *sb.Endpoint) { t.byEndpoint[e.EndpointSID] = contribute(e, t.realm) }

// Delete forgets an endpoint.
func (t *Table) Delete(endpointSID string) { delete(t.byEndpoint, endpointSID) }

// Len is the number of endpoints held.
func (t *Table) Len() int { return len(t.byEndpoint) }

// State is what Kamailio should have loaded, sorted, and what was left out.
type State struct {
	Addresses   []AddressEntry
	Credentials []Credential
	Problems    []Problem
}

// State resolves the contributions into Kamailio's data:
//   - an address record shared by several endpoints is left out for all of
//     them (the database forbids it for auth_required=false endpoints, §5,
//     so only system gateways share, and they share one tag);
//   - a username held by several endpoints, or by one with several
//     passwords, is left out for all of them: never admitted under the
//     wrong identity.
func (t *Table) State() State {
	var s State
	addrs := map[addressKey][]AddressEntry{}
	creds := map[string][]Credential{}
	for _, c := range t.byEndpoint {
		s.Problems = append(s.Problems, c.problems...)
		for _, a := range c.addresses {
			addrs[a.key()] = append(addrs[a.key()], a)
		}
		for _, cr := range c.creds {
			creds[cr.Username] = append(creds[cr.Username], cr)
		}
	}
	for _, list := range addrs {
		if allSame(list) {
			s.Addresses = append(s.Addresses, list[0])
			continue
		}
		for _, a := range list {
			sid, partner, _ := strings.Cut(a.Tag, ",")
			s.Problems = append(s.Problems, Problem{PartnerSID: partner, EndpointSID: sid, What: a.String(), Reason: ReasonSharedAddress})
		}
	}
	for _, list := range creds {
		if allSame(list) {
			s.Credentials = append(s.Credentials, list[0])
			continue
		}
		for _, c := range list {
			s.Problems = append(s.Problems, Problem{PartnerSID: c.PartnerSID, EndpointSID: c.EndpointSID, What: fmt.Sprintf("sip_username %q", c.Username), Reason: ReasonAmbiguousUsername})
		}
	}
	slices.SortFunc(s.Addresses, compareAddress)
	slices.SortFunc(s.Credentials, func(a, b Credential) int { return strings.Compare(a.Username, b.Username) })
	slices.SortFunc(s.Problems, func(a, b Problem) int {
		return cmp.Or(strings.Compare(a.PartnerSID, b.PartnerSID), strings.Compare(a.EndpointSID, b.EndpointSID), strings.Compare(a.What, b.What))
	})
	return s
}

func compareAddress(a, b AddressEntry) int {
	return cmp.Or(cmp.Compare(a.Group, b.Group), strings.Compare(a.IP, b.IP), cmp.Compare(a.Port, b.Port), strings.Compare(a.Tag, b.Tag))
}

func allSame[T comparable](list []T) bool {
	for _, v := range list[1:] {
		if v != list[0] {
			return false
		}
	}
	return true
}
