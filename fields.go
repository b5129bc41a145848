package switchboard

import (
	"encoding/json"
	"errors"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Body is a request body decoded as a JSON object, numbers as json.Number so
// that integers are checked exactly.
type Body = map[string]any

// Limits of §2 (some are decisions, noted there).
const (
	maxNameLen        = 255
	maxSIPCredential  = 255
	maxLocationSID    = 64
	maxAddresses      = 100
	maxTransforms     = 100
	maxOperands       = 16
	maxOperandLen     = 1024
	maxActionLen      = 64
	maxAttributes     = 100
	maxAttrKeyLen     = 64
	maxAttrValueLen   = 1024
	maxGreetingLen    = 1024
	maxContainerSID   = 255
	maxCallbackURLLen = 2048
	maxCapacity       = 1<<31 - 1
)

var (
	directions = []string{"any", "inbound", "outbound"}
	transports = []string{"udp", "tcp", "tls"}
	actionRE   = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
	digitsRE   = regexp.MustCompile(`^[0-9]+$`)
)

// The value readers below check one JSON value and report a problem under
// field when it does not fit; ok says whether the value may be used.

func readString(p *problems, field string, v any, minLen, maxLen int) (string, bool) {
	s, ok := v.(string)
	if !ok {
		p.add(field, "must be a string")
		return "", false
	}
	// PostgreSQL cannot store U+0000 in text; refusing it here keeps both
	// backends alike for every string the body can hold.
	if strings.IndexByte(s, 0) >= 0 {
		p.add(field, msgNUL)
		return "", false
	}
	if n := utf8.RuneCountInString(s); n < minLen || n > maxLen {
		if minLen > 0 {
			p.add(field, "must be between "+strconv.Itoa(minLen)+" and "+strconv.Itoa(maxLen)+" characters")
		} else {
			p.add(field, "must be at most "+strconv.Itoa(maxLen)+" characters")
		}
		return "", false
	}
	return s, true
}

func readNullableString(p *problems, field string, v any, maxLen int) (*string, bool) {
	if v == nil {
		return nil, true
	}
	if _, ok := v.(string); !ok {
		p.add(field, "must be a string or null")
		return nil, false
	}
	s, ok := readString(p, field, v, 0, maxLen)
	return &s, ok
}

// readInt accepts a JSON integer or a string of decimal digits (the CarrierX
// create sample sends "port": "5060").
func readInt(p *problems, field string, v any, lo, hi int64) (int64, bool) {
	var text string
	switch x := v.(type) {
	case json.Number:
		text = x.String()
	case string:
		if digitsRE.MatchString(x) {
			text = x
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		p.add(field, "must be an integer")
		return 0, false
	}
	if n < lo || n > hi {
		p.add(field, "must be between "+strconv.FormatInt(lo, 10)+" and "+strconv.FormatInt(hi, 10))
		return 0, false
	}
	return n, true
}

func readBool(p *problems, field string, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		p.add(field, "must be true or false")
	}
	return b, ok
}

func readEnum(p *problems, field string, v any, allowed []string) (string, bool) {
	s, ok := v.(string)
	for _, a := range allowed {
		if ok && s == a {
			return s, true
		}
	}
	p.add(field, "must be one of: "+strings.Join(allowed, ", "))
	return "", false
}

func readObject(p *problems, field string, v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		p.add(field, "must be an object")
		return nil, false
	}
	for k := range m {
		if strings.IndexByte(k, 0) >= 0 {
			// Named by the object: the key itself is not a usable field name.
			p.add(field, "keys "+msgNUL)
			return nil, false
		}
	}
	return m, true
}

const msgNUL = "must not contain the NUL character (U+0000)"

func readArray(p *problems, field string, v any, maxLen int, noun string) ([]any, bool) {
	a, ok := v.([]any)
	if !ok {
		p.add(field, "must be an array")
		return nil, false
	}
	if len(a) > maxLen {
		p.add(field, "at most "+strconv.Itoa(maxLen)+" "+noun)
		return nil, false
	}
	return a, true
}

// member reads one member of a nested object (an address, a
// transformation) into *T; each nested object keeps a table of them, as the
// endpoint keeps its field table.
type member[T any] func(p *problems, field string, v any, into *T) bool

// readMembers reads every member of m through members, reporting unknown
// ones, and requires the member named required.
func readMembers[T any](p *problems, field string, m map[string]any, members map[string]member[T], required string, into *T) bool {
	good := true
	for k, val := range m {
		read, known := members[k]
		if !known {
			p.add(field+"."+k, "unknown field")
			good = false
			continue
		}
		good = read(p, field+"."+k, val, into) && good
	}
	if _, ok := m[required]; !ok {
		p.add(field+"."+required, "field is required")
		good = false
	}
	return good
}

// into makes a member of a value reader and the place it fills.
func into[T, V any](read func(p *problems, field string, v any) (V, bool), at func(*T) *V) member[T] {
	return func(p *problems, field string, v any, t *T) bool {
		val, ok := read(p, field, v)
		*at(t) = val
		return ok
	}
}

// Value readers with their limits bound, for member tables.
func enumOf(allowed []string) func(*problems, string, any) (string, bool) {
	return func(p *problems, field string, v any) (string, bool) { return readEnum(p, field, v, allowed) }
}

func intIn(lo, hi int64) func(*problems, string, any) (int64, bool) {
	return func(p *problems, field string, v any) (int64, bool) { return readInt(p, field, v, lo, hi) }
}

func nullableUpTo(maxLen int) func(*problems, string, any) (*string, bool) {
	return func(p *problems, field string, v any) (*string, bool) { return readNullableString(p, field, v, maxLen) }
}

var addressMembers = map[string]member[Address]{
	"direction":    into(enumOf(directions), func(a *Address) *string { return &a.Direction }),
	"dst_port":     into(intIn(1, 65535), func(a *Address) *int64 { return &a.DstPort }),
	"ip":           into(readHost, func(a *Address) *string { return &a.IP }),
	"location_sid": into(nullableUpTo(maxLocationSID), func(a *Address) **string { return &a.LocationSID }),
	"port":         into(intIn(1, 65535), func(a *Address) *int64 { return &a.Port }),
	"priority":     into(intIn(0, 65535), func(a *Address) *int64 { return &a.Priority }),
	"sip_password": into(nullableUpTo(maxSIPCredential), func(a *Address) **string { return &a.SIPPassword }),
	"sip_username": into(nullableUpTo(maxSIPCredential), func(a *Address) **string { return &a.SIPUsername }),
	"srtp":         into(readBool, func(a *Address) *bool { return &a.SRTP }),
	"transport":    into(enumOf(transports), func(a *Address) *string { return &a.Transport }),
}

// readAddress reads one Address, filling the defaults of §2.
func readAddress(p *problems, field string, v any) (Address, bool) {
	m, ok := readObject(p, field, v)
	if !ok {
		return Address{}, false
	}
	a := Address{Direction: "any", DstPort: 5060, Port: 5060, Transport: "udp"}
	return a, readMembers(p, field, m, addressMembers, "ip", &a)
}

func readHost(p *problems, field string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		p.add(field, msgNotHost)
		return "", false
	}
	h, err := SIPHost(s)
	if err != nil {
		p.add(field, err.Error())
		return "", false
	}
	return h, true
}

const msgNotHost = "must be an IPv4 address, an IPv6 address or a host name"

// SIPHost validates the ip of a SIP address (of an endpoint or a system
// gateway) and returns its canonical form (see CanonicalHost). It also
// refuses the IP addresses no SIP peer can have: unspecified (0.0.0.0, ::),
// the IPv4 limited broadcast and multicast. Loopback is accepted: a proxy
// and a PBX on one host is a real set-up. The error is a message for the
// field, without the value.
func SIPHost(s string) (string, error) {
	h, ok := CanonicalHost(s)
	if !ok {
		return "", errors.New(msgNotHost)
	}
	if a, err := netip.ParseAddr(h); err == nil {
		switch {
		case a.IsUnspecified():
			return "", errors.New("must not be an unspecified address (0.0.0.0 or ::)")
		case a == limitedBroadcast:
			return "", errors.New("must not be the broadcast address 255.255.255.255")
		case a.IsMulticast():
			return "", errors.New("must not be a multicast address (224.0.0.0/4, ff00::/8)")
		}
	}
	return h, nil
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// asciiLower lowers the ASCII letters of s, and nothing else.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// CanonicalHost validates an address's ip and returns its canonical form,
// so that every spelling of one address is one string (the duplicate-IP
// rule and filters compare strings): an IPv4 address in dotted decimal,
// also when written as IPv4-mapped IPv6 (::ffff:192.0.2.44,
// ::FFFF:C000:022C); other IPv6 addresses as RFC 5952 writes them
// (compressed, lower case); host names (ASCII letters, digits and hyphens)
// in lower case without a trailing dot.
func CanonicalHost(s string) (string, bool) {
	if addr, err := netip.ParseAddr(s); err == nil {
		if addr.Zone() != "" {
			return "", false
		}
		return addr.Unmap().String(), true
	}
	// ASCII letters only: host names are ASCII labels (IDN as punycode,
	// docs/decisions.md), and Unicode lowering would turn the Kelvin sign
	// into "k", accepting a spelling no resolver reads as that name.
	h := strings.TrimSuffix(asciiLower(s), ".")
	if h == "" || len(h) > 253 {
		return "", false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", false
			}
		}
	}
	// An all-numeric last label is a mistyped IPv4 address (999.1.1.1), never
	// a top-level domain.
	if digitsRE.MatchString(labels[len(labels)-1]) {
		return "", false
	}
	return h, true
}

var transformationMembers = map[string]member[Transformation]{
	"action":    into(readAction, func(t *Transformation) *string { return &t.Action }),
	"direction": into(enumOf(directions), func(t *Transformation) *string { return &t.Direction }),
	"operands":  into(readOperands, func(t *Transformation) *[]string { return &t.Operands }),
}

func readAction(p *problems, field string, v any) (string, bool) {
	s, ok := readString(p, field, v, 1, maxActionLen)
	if ok && !actionRE.MatchString(s) {
		p.add(field, "must be 1 to 64 characters of a-z, 0-9 and _")
		return s, false
	}
	return s, ok
}

func readTransformation(p *problems, field string, v any) (Transformation, bool) {
	m, ok := readObject(p, field, v)
	if !ok {
		return Transformation{}, false
	}
	t := Transformation{Direction: "any", Operands: []string{}}
	return t, readMembers(p, field, m, transformationMembers, "action", &t)
}

func readOperands(p *problems, field string, v any) ([]string, bool) {
	list, ok := readArray(p, field, v, maxOperands, "operands")
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(list))
	for i, o := range list {
		s, ok := readString(p, field+"["+strconv.Itoa(i)+"]", o, 0, maxOperandLen)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// readAttributes reads an attributes object. A key sent as null is reported
// in removed (merge PATCH removes it; elsewhere it is simply absent).
func readAttributes(p *problems, v any) (set map[string]string, removed []string, ok bool) {
	m, ok := readObject(p, "attributes", v)
	if !ok {
		return nil, nil, false
	}
	set = map[string]string{}
	good := true
	for k, val := range m {
		f := "attributes." + k
		if n := utf8.RuneCountInString(k); n < 1 || n > maxAttrKeyLen {
			p.add("attributes", "keys must be 1 to 64 characters")
			good = false
			continue
		}
		if val == nil {
			removed = append(removed, k)
			continue
		}
		s, ok := readString(p, f, val, 0, maxAttrValueLen)
		good = good && ok
		set[k] = s
	}
	return set, removed, good
}

// voicemailProperties are the properties a partner may set on a voicemail
// endpoint, with their checks.
var voicemailProperties = map[string]propertyReader{
	"callback_method": func(p *problems, f string, v any) (*string, bool) {
		s, ok := readEnum(p, f, v, []string{"GET", "POST"})
		return &s, ok
	},
	"callback_url": func(p *problems, f string, v any) (*string, bool) {
		s, ok := v.(string)
		if ok && len(s) <= maxCallbackURLLen {
			u, err := url.Parse(s)
			if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
				return &s, true
			}
		}
		p.add(f, "must be an absolute http or https URL")
		return nil, false
	},
	"container_sid": func(p *problems, f string, v any) (*string, bool) {
		return readNullableString(p, f, v, maxContainerSID)
	},
	"greeting": func(p *problems, f string, v any) (*string, bool) {
		return readNullableString(p, f, v, maxGreetingLen)
	},
}

// readProperties reads a properties object for an endpoint of type t. For
// a type with settable properties only those keys are known; for the others
// every value must be a string or null, and the type rules then decide
// whether the result may differ from what is stored.
func readProperties(p *problems, t EndpointType, v any) (Properties, bool) {
	m, ok := readObject(p, "properties", v)
	if !ok {
		return nil, false
	}
	rules, _ := t.Rules()
	out := Properties{}
	good := true
	for k, val := range m {
		f := "properties." + k
		var s *string
		var ok bool
		if rules.Properties != nil {
			read, known := rules.Properties[k]
			if !known {
				p.add(f, "unknown field")
				good = false
				continue
			}
			s, ok = read(p, f, val)
		} else {
			s, ok = readNullableString(p, f, val, maxAttrValueLen)
		}
		good = good && ok
		out[k] = s
	}
	return out, good
}
