// Package filter is the list filter language of GET /core/v2/endpoints
// (spec §7, §11.4, §11.6):
//
//	filter := cond { "and" cond }
//	cond   := field op value | field ("in" | "notin") "(" value { "," value } ")"
//	op     := eq | ne | gt | ge | lt | le | like | ilike
//	value  := number | true | false | null | word | "double quoted" | 'single quoted'
//
// Parse turns the text into a checked tree (syntax, the fields of the
// Schema its caller gives, types, limits); Match evaluates it on an
// endpoint's JSON form and is the reference meaning. The package knows no
// storage: switchboard derives the Schema from its field table
// (ParseFilter), and sqlstore compiles a checked tree to SQL and is tested
// against Match.
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
//     nullable fields (for endpoints: cps_limit, voip_token,
//     out_sip_username, addresses.location_sid, addresses.sip_username, and
//     the keys of attributes and properties).
//   - Booleans take eq, ne, in and notin only; like and ilike take text
//     fields only.
//   - ilike folds ASCII letters only (É and é differ), on both databases.
//   - Values of eq, ne, in and notin on a field with a Canonical function
//     are written as it writes them: for addresses.ip, switchboard's
//     CanonicalHost, the one validation stores addresses with (§2).
//   - Ordering a string field compares bytes; a value of the wrong JSON type
//     in Match never satisfies a condition.
//   - Past the limits (4096 characters, 50 conditions, 100 values in one
//     list) the filter is refused, never truncated.
package filter
