package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzSeeds start FuzzParse (and sqlstore's FuzzSQL has the same);
// testdata/fuzz holds more, found by longer runs.
var fuzzSeeds = []string{
	`name eq "my trunk"`,
	`type in (conference, flexml) and capacity gt 10`,
	`addresses.ip eq "1.1.2.13"`,
	`attributes.region eq eu and name ilike '%pbx%'`,
	`name eq 'it\'s here' and out_sip_username ne null`,
	`capacity notin (0,1,2) AND auth_required EQ false`,
	`properties.login like "a_%" and transformations.operands eq "+1"`,
	`addresses.port ge 5060 and addresses.location_sid eq null`,
	`name eq "quote\"d \\ name" and name like "*?[%_"`,
	`addresses.ip in ("::FFFF:a:b", PBX.example.COM.)`,
	`attributes.k-1 notin ("a", 'b', c) and properties.greeting ne null`,
	`voip_token ne "2c95517b-a5e8-4415-b471-cdd81d5a6dcb" and cps_limit eq null`,
	`properties.login in ("", x) and capacity eq "-5"`,
	`type in conference`,
	`name eq "abc`,
	`capacity eq abc`,
	`nmae eq x or y`,
	`name like "100\%"`,
	"name eq \"\xff\"",
	"name eq \"a\x00\"",
}

// samples are endpoints Match runs on in FuzzParse, including values of the
// wrong JSON type, which must not panic either.
var samples = []string{
	`{"addresses":[{"ip":"10.0.0.1","port":5060,"location_sid":null,"srtp":false}],"attributes":{"k":"v"},
	  "auth_required":true,"capacity":3,"cps_limit":null,"name":"x","properties":{"login":null},
	  "transformations":[{"action":"a","operands":["1"]}]}`,
	`{"addresses":[7,null,{"ip":5}],"attributes":[],"auth_required":"yes","capacity":"3","cps_limit":1.5,"name":null,
	  "properties":{"login":7},"transformations":[{"operands":{"a":1}},{"operands":[null,2]}]}`,
	`{}`,
}

func decode(t testing.TB, s string) map[string]any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// FuzzParse: no input panics; an error is an *Error with a message and a
// position inside the text; a filter that parses respects the limits and
// prints a canonical form that parses to the same tree and prints the same.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	var endpoints []map[string]any
	for _, s := range samples {
		endpoints = append(endpoints, decode(f, s))
	}
	f.Fuzz(func(t *testing.T, text string) {
		x, err := Parse(text, testSchema)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Msg == "" || e.Pos < 0 || e.Pos > utf8.RuneCountInString(text)+1 {
				t.Fatalf("Parse(%q, testSchema): error %T %q is not a positioned filter.Error", text, err, err)
			}
			return
		}
		if len(x.Conds) == 0 || len(x.Conds) > MaxConditions {
			t.Fatalf("Parse(%q, testSchema): %d conditions", text, len(x.Conds))
		}
		for _, c := range x.Conds {
			if len(c.Values) == 0 || len(c.Values) > MaxInValues || (c.Op != In && c.Op != NotIn && len(c.Values) != 1) {
				t.Fatalf("Parse(%q, testSchema): %d values in %s", text, len(c.Values), c)
			}
		}
		canonical := x.String()
		again, err := parse(canonical, testSchema, len(canonical)+MaxLength) // the canonical form may be longer
		if err != nil || !sameTree(x, again) || again.String() != canonical {
			t.Fatalf("Parse(%q, testSchema) = %s, which reparses to %v, %v", text, canonical, again, err)
		}
		for _, e := range endpoints {
			x.Match(e)
		}
	})
}

// The seed corpus files are in the format go test reads.
func TestSeedCorpusFormat(t *testing.T) {
	for _, target := range []string{"FuzzParse"} {
		dir := "testdata/fuzz/" + target
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) < 12 {
			t.Errorf("%s: only %d seed files", dir, len(entries))
		}
		for _, e := range entries {
			data, err := os.ReadFile(dir + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(data, []byte("go test fuzz v1\nstring(")) {
				t.Errorf("%s/%s is not a go test fuzz v1 string", dir, e.Name())
			}
		}
	}
}
