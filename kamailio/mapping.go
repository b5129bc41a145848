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
	"iter"
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
// table's key, the partner an index in the table's list of partners. An
// endpoint has address records (auth_required=false) or credentials
// (auth_required=true), never both, and most have one address: the first
// is held in place, the rest, credentials and problems behind a pointer,
// so that an endpoint with one address costs 40 bytes and no allocation
// besides its SID.
type contribution struct {
	first    addressRecord // when hasFirst
	hasFirst bool
	gateway  bool
	partner  uint32
	more     *contributionMore
}

type contributionMore struct {
	addresses []addressRecord // after the first
	creds     []credentialRecord
	problems  []Problem // rare
}

func (c contribution) addresses() iter.Seq[addressRecord] {
	return func(yield func(addressRecord) bool) {
		if !c.hasFirst || !yield(c.first) || c.more == nil {
			return
		}
		for _, r := range c.more.addresses {
			if !yield(r) {
				return
			}
		}
	}
}

func (c contribution) numAddresses() int {
	if !c.hasFirst {
		return 0
	}
	if c.more == nil {
		return 1
	}
	return 1 + len(c.more.addresses)
}

func (c *contribution) addAddress(r addressRecord) {
	if !c.hasFirst {
		c.first, c.hasFirst = r, true
		return
	}
	if c.first == r || (c.more != nil && slices.Contains(c.more.addresses, r)) {
		return
	}
	m := c.moreOf()
	m.addresses = append(m.addresses, r)
}

func (c *contribution) moreOf() *contributionMore {
	if c.more == nil {
		c.more = &contributionMore{}
	}
	return c.more
}

func (c contribution) creds() []credentialRecord {
	if c.more == nil {
		return nil
	}
	return c.more.creds
}

func (c contribution) problems() []Problem {
	if c.more == nil {
		return nil
	}
	return c.more.problems
}

// addressRecord is an address as the table holds it: 20 bytes without a
// pointer (netip.Addr has one), for IPv4 and zoneless IPv6 addresses.
type addressRecord struct {
	ip    [16]byte // IPv4 in the last 4 bytes when v4
	port  uint16
	group uint8
	v4    bool
}

func newAddressRecord(ip netip.Addr, port uint16, group uint8) addressRecord {
	ip = ip.Unmap()
	return addressRecord{ip: ip.As16(), port: port, group: group, v4: ip.Is4()}
}

func (r addressRecord) addr() netip.Addr {
	a := netip.AddrFrom16(r.ip)
	if r.v4 {
		return a.Unmap()
	}
	return a
}

type credentialRecord struct {
	username string
	ha1      [md5.Size]byte
}

// contribute maps one endpoint (the partner is the caller's to set).
func contribute(e *sb.Endpoint, realm string) contribution {
	c := contribution{gateway: e.Type == sb.TypeSystemGateway}
	problem := func(what, reason string) {
		m := c.moreOf()
		m.problems = append(m.problems, Problem{PartnerSID: e.PartnerSID, EndpointSID: e.EndpointSID, What: what, Reason: reason})
	}
	for _, a := range e.Addresses {
		if !e.AuthRequired {
			ip, err := netip.ParseAddr(a.IP)
			if err != nil {
				problem("address "+a.IP, ReasonHostName)
				continue
			}
			if ip.Zone() != "" { // the API refuses them: never a source address
				problem("address "+a.IP, "an IPv6 zone cannot be matched by source address")
				continue
			}
			group, ok := groupOf(a.Transport)
			if !ok || a.Port < 0 || a.Port > 65535 {
				problem("address "+a.IP, "transport "+a.Transport+" or port out of range")
				continue
			}
			c.addAddress(newAddressRecord(ip, uint16(a.Port), uint8(group)))
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
		if !slices.Contains(c.creds(), rec) {
			m := c.moreOf()
			m.creds = append(m.creds, rec)
		}
	}
	return c
}

// Table is every endpoint's contribution, by endpoint SID: the state the
// agent keeps in step with the change feed and renders into Kamailio's
// files.
type Table struct {
	realm       string
	byEndpoint  map[string]contribution
	partnerSIDs []string // a contribution's partner indexes it
	partnerOf   map[string]uint32
}

// NewTable is an empty table for credentials of the digest realm.
func NewTable(realm string) *Table {
	return &Table{realm: realm, byEndpoint: map[string]contribution{}, partnerOf: map[string]uint32{}}
}

// Put sets an endpoint's current state (create or update).
func (t *Table) Put(e *sb.Endpoint) {
	c := contribute(e, t.realm)
	t.put(e.EndpointSID, e.PartnerSID, c)
}

func (t *Table) put(endpointSID, partnerSID string, c contribution) {
	p, ok := t.partnerOf[partnerSID]
	if !ok {
		p = uint32(len(t.partnerSIDs))
		t.partnerSIDs = append(t.partnerSIDs, strings.Clone(partnerSID))
		t.partnerOf[t.partnerSIDs[p]] = p
	}
	c.partner = p
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
	addresses   []resolvedAddress
	creds       []resolvedCredential
	problems    []Problem
	partnerSIDs []string // the table's: a record's partner indexes it
}

type resolvedAddress struct {
	addressRecord
	gateway     bool
	partner     uint32
	endpointSID string
}

func (r *resolved) tag(a resolvedAddress) string {
	if a.gateway {
		return SystemGatewayTag
	}
	return a.endpointSID + "," + r.partnerSIDs[a.partner]
}

func (r *resolved) entry(a resolvedAddress) AddressEntry {
	return AddressEntry{Group: int(a.group), IP: a.addr().String(), Port: int64(a.port), Tag: r.tag(a)}
}

type resolvedCredential struct {
	credentialRecord
	partner     uint32
	endpointSID string
}

func (r *resolved) credential(c resolvedCredential) Credential {
	return Credential{Username: c.username, HA1: hex.EncodeToString(c.ha1[:]), EndpointSID: c.endpointSID, PartnerSID: r.partnerSIDs[c.partner]}
}

// resolve sorts the contributions and settles what is shared:
//   - an address record shared by several endpoints is left out for all of
//     them (the database forbids it for auth_required=false endpoints, §5),
//     except system gateways, which share one tag;
//   - a username held by several endpoints, or by one with several
//     passwords, is left out for all of them: never admitted under the
//     wrong identity.
func (t *Table) resolve() resolved {
	r := resolved{partnerSIDs: t.partnerSIDs}
	nAddrs, nCreds := 0, 0
	for _, c := range t.byEndpoint {
		nAddrs += c.numAddresses()
		nCreds += len(c.creds())
	}
	// Both lists are filtered in place (what is kept is never ahead of
	// what is read): the table and one copy of its records, at most.
	addrs := make([]resolvedAddress, 0, nAddrs)
	creds := make([]resolvedCredential, 0, nCreds)
	for sid, c := range t.byEndpoint {
		r.problems = append(r.problems, c.problems()...)
		for a := range c.addresses() {
			addrs = append(addrs, resolvedAddress{a, c.gateway, c.partner, sid})
		}
		for _, cr := range c.creds() {
			creds = append(creds, resolvedCredential{cr, c.partner, sid})
		}
	}
	r.addresses, r.creds = addrs[:0], creds[:0]
	slices.SortFunc(addrs, func(a, b resolvedAddress) int {
		return cmp.Or(cmp.Compare(a.group, b.group), a.addr().Compare(b.addr()), cmp.Compare(a.port, b.port),
			strings.Compare(a.endpointSID, b.endpointSID))
	})
	for i := 0; i < len(addrs); {
		j := i + 1
		for j < len(addrs) && addrs[j].addressRecord == addrs[i].addressRecord {
			j++
		}
		same := addrs[i:j:j]
		if allSameBy(same, func(a resolvedAddress) string { return r.tag(a) }) {
			r.addresses = append(r.addresses, addrs[i])
		} else {
			for _, a := range same {
				r.problems = append(r.problems, Problem{PartnerSID: r.partnerSIDs[a.partner], EndpointSID: a.endpointSID, What: r.entry(a).String(), Reason: ReasonSharedAddress})
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
				r.problems = append(r.problems, Problem{PartnerSID: r.partnerSIDs[c.partner], EndpointSID: c.endpointSID, What: fmt.Sprintf("sip_username %q", c.username), Reason: ReasonAmbiguousUsername})
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
		s.Addresses = append(s.Addresses, r.entry(a))
	}
	for _, c := range r.creds {
		s.Credentials = append(s.Credentials, r.credential(c))
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
