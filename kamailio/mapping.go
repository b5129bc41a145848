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

// contribution is what one endpoint adds to Kamailio's data, in the
// compact form the agent keeps for each endpoint (not the endpoint itself):
// 100k endpoints must fit in a few tens of MB. The endpoint SID is the
// table's key; the partner SID is interned (one string per partner).
type contribution struct {
	partnerSID string
	gateway    bool
	addresses  []addressRecord
	creds      []credentialRecord
	problems   []Problem // rare
}

type addressRecord struct {
	ip    netip.Addr // no allocation for an IPv4 or zoneless IPv6 address
	port  uint16
	group uint8
}

type credentialRecord struct {
	username string
	ha1      [md5.Size]byte
}

// contribute maps one endpoint.
func contribute(e *sb.Endpoint, realm string) contribution {
	c := contribution{partnerSID: e.PartnerSID, gateway: e.Type == sb.TypeSystemGateway}
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
			if !ok || a.Port < 0 || a.Port > 65535 {
				problem("address "+a.IP, "transport "+a.Transport+" or port out of range")
				continue
			}
			rec := addressRecord{ip: ip.Unmap(), port: uint16(a.Port), group: uint8(group)}
			if !slices.Contains(c.addresses, rec) {
				c.addresses = append(c.addresses, rec)
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
		rec := credentialRecord{username: *a.SIPUsername, ha1: md5.Sum([]byte(*a.SIPUsername + ":" + realm + ":" + *a.SIPPassword))}
		if !slices.Contains(c.creds, rec) {
			c.creds = append(c.creds, rec)
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
	partners   map[string]string // interned partner SIDs
}

// NewTable is an empty table for credentials of the digest realm.
func NewTable(realm string) *Table {
	return &Table{realm: realm, byEndpoint: map[string]contribution{}, partners: map[string]string{}}
}

// Put sets an endpoint's current state (create or update).
func (t *Table) Put(e *sb.Endpoint) {
	c := contribute(e, t.realm)
	t.put(e.EndpointSID, c)
}

func (t *Table) put(endpointSID string, c contribution) {
	p, ok := t.partners[c.partnerSID]
	if !ok {
		p = strings.Clone(c.partnerSID)
		t.partners[p] = p
	}
	c.partnerSID = p
	t.byEndpoint[endpointSID] = c
}

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

// resolved is State before its strings are built: what the agent renders
// the files from, holding references to the table's strings only.
type resolved struct {
	addresses []resolvedAddress
	creds     []resolvedCredential
	problems  []Problem
}

type resolvedAddress struct {
	addressRecord
	endpointSID, partnerSID string
	gateway                 bool
}

func (a resolvedAddress) tag() string {
	if a.gateway {
		return SystemGatewayTag
	}
	return a.endpointSID + "," + a.partnerSID
}

func (a resolvedAddress) entry() AddressEntry {
	return AddressEntry{Group: int(a.group), IP: a.ip.String(), Port: int64(a.port), Tag: a.tag()}
}

type resolvedCredential struct {
	credentialRecord
	endpointSID, partnerSID string
}

func (c resolvedCredential) credential() Credential {
	return Credential{Username: c.username, HA1: hex.EncodeToString(c.ha1[:]), EndpointSID: c.endpointSID, PartnerSID: c.partnerSID}
}

// resolve sorts the contributions and settles what is shared:
//   - an address record shared by several endpoints is left out for all of
//     them (the database forbids it for auth_required=false endpoints, §5),
//     except system gateways, which share one tag;
//   - a username held by several endpoints, or by one with several
//     passwords, is left out for all of them: never admitted under the
//     wrong identity.
func (t *Table) resolve() resolved {
	var r resolved
	addrs := make([]resolvedAddress, 0, len(t.byEndpoint))
	var creds []resolvedCredential
	for sid, c := range t.byEndpoint {
		r.problems = append(r.problems, c.problems...)
		for _, a := range c.addresses {
			addrs = append(addrs, resolvedAddress{a, sid, c.partnerSID, c.gateway})
		}
		for _, cr := range c.creds {
			creds = append(creds, resolvedCredential{cr, sid, c.partnerSID})
		}
	}
	slices.SortFunc(addrs, func(a, b resolvedAddress) int {
		return cmp.Or(cmp.Compare(a.group, b.group), a.ip.Compare(b.ip), cmp.Compare(a.port, b.port),
			strings.Compare(a.endpointSID, b.endpointSID))
	})
	for i := 0; i < len(addrs); {
		j := i + 1
		for j < len(addrs) && addrs[j].addressRecord == addrs[i].addressRecord {
			j++
		}
		same := addrs[i:j:j]
		if allSameBy(same, func(a resolvedAddress) string { return a.tag() }) {
			r.addresses = append(r.addresses, addrs[i])
		} else {
			for _, a := range same {
				r.problems = append(r.problems, Problem{PartnerSID: a.partnerSID, EndpointSID: a.endpointSID, What: a.entry().String(), Reason: ReasonSharedAddress})
			}
		}
		i = j
	}
	slices.SortFunc(creds, func(a, b resolvedCredential) int {
		return cmp.Or(strings.Compare(a.username, b.username), strings.Compare(a.endpointSID, b.endpointSID))
	})
	for i := 0; i < len(creds); {
		j := i + 1
		for j < len(creds) && creds[j].username == creds[i].username {
			j++
		}
		same := creds[i:j:j]
		if allSameBy(same, func(c resolvedCredential) resolvedCredential { return c }) {
			r.creds = append(r.creds, creds[i])
		} else {
			for _, c := range same {
				r.problems = append(r.problems, Problem{PartnerSID: c.partnerSID, EndpointSID: c.endpointSID, What: fmt.Sprintf("sip_username %q", c.username), Reason: ReasonAmbiguousUsername})
			}
		}
		i = j
	}
	slices.SortFunc(r.problems, func(a, b Problem) int {
		return cmp.Or(strings.Compare(a.PartnerSID, b.PartnerSID), strings.Compare(a.EndpointSID, b.EndpointSID), strings.Compare(a.What, b.What))
	})
	return r
}

// State resolves the contributions into Kamailio's data (see resolve).
func (t *Table) State() State {
	r := t.resolve()
	s := State{Problems: r.problems}
	for _, a := range r.addresses {
		s.Addresses = append(s.Addresses, a.entry())
	}
	for _, c := range r.creds {
		s.Credentials = append(s.Credentials, c.credential())
	}
	return s
}

func allSameBy[T any, K comparable](list []T, key func(T) K) bool {
	for _, v := range list[1:] {
		if key(v) != key(list[0]) {
			return false
		}
	}
	return true
}
