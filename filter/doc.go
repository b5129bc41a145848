// Package filter is the list filter language of GET /core/v2/endpoints
// (spec §7, §11.4, §11.6):
//
//	filter := cond { "and" cond }
//	cond   := field op value | field ("in" | "notin") "(" value { "," value } ")"
//	op     := eq | ne | gt | ge | lt | le | like | ilike
//	value  := number | true | false | null | word | "double quoted" | 'single quoted'
//
// Parse turns the text into a checked tree (syntax, allow-list of fields,
// types, limits); SQL compiles the tree to a condition whose values are all
// bound parameters; Match evaluates it on an endpoint's JSON form and is the
// reference meaning that the SQL must agree with.
//
// Where the spec is silent, the package decides:
//
//   - Keywords (and, in, notin, the operators, true, false, null) are
//     case-insensitive; field names and attribute/property keys are not,
//     because they are JSON keys.
//   - Inside quotes a backslash escapes the next character only when that is
//     a quote (" or ') or a backslash; any other escape (\n, \%, ...) is an
//     error, so that nobody believes \% makes % literal in a like pattern.
//   - A filter holding the NUL character, or invalid UTF-8, is refused
//     (PostgreSQL text cannot hold NUL). Positions count characters.
//   - The type of a value comes from its field; quotes only delimit text:
//     capacity eq "5" is capacity eq 5, and name eq 5 compares with the text
//     "5". Integers are decimal with an optional sign and fit in 64 bits.
//     The bare word null is null; the quoted "null" is text.
//   - null goes with eq and ne only (not in in/notin lists), and only on the
//     nullable fields: cps_limit, voip_token, out_sip_username,
//     addresses.location_sid, addresses.sip_username, attributes.<key> and
//     properties.<key>.
//   - Booleans take eq, ne, in and notin only; like and ilike take text
//     fields only.
//   - ilike folds ASCII letters only (É and é differ), on both databases.
//   - Values for addresses.ip with eq, ne, in and notin are written in the
//     canonical form addresses are stored in (§2): IPv4 addresses dotted (also
//     when written IPv4-mapped, ::ffff:192.0.2.44), other IP addresses as
//     net/netip writes them (RFC 5952), host names in lower case without a
//     trailing dot.
//   - Ordering a string field compares bytes; a value of the wrong JSON type
//     in Match never satisfies a condition.
//   - Past the limits (4096 characters, 50 conditions, 100 values in one
//     list) the filter is refused, never truncated.
package filter
