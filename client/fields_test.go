package client_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/client"
)

// The client's Endpoint has a field for every top-level field of the
// server's table (switchboard.Fields), and no other.
func TestEndpointMirrorsTheFieldTable(t *testing.T) {
	var got, want []string
	e := reflect.TypeFor[client.Endpoint]()
	for i := range e.NumField() {
		name, _, _ := strings.Cut(e.Field(i).Tag.Get("json"), ",")
		got = append(got, name)
	}
	for _, f := range sb.Fields() {
		want = append(want, f.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("client.Endpoint has the JSON fields %v; the server's field table has %v", got, want)
	}
}

// The client names every type of the server's type table.
func TestTypesMirrorTheTypeTable(t *testing.T) {
	got := []string{}
	for _, typ := range []client.EndpointType{
		client.TypeThirdParty, client.TypeConference, client.TypeConferencePlayback, client.TypeConferenceV2,
		client.TypeFlexML, client.TypeMediator, client.TypeVoicemail, client.TypeSystemGateway,
	} {
		got = append(got, string(typ))
	}
	var want []string
	for _, r := range sb.Types() {
		want = append(want, string(r.Type))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the client's type constants are %v, the type table has %v", got, want)
	}
}
