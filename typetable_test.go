package switchboard

import (
	"slices"
	"testing"
)

// Each type's row, as the rules of §4 read: which fields a partner may
// change (and a PUT must hold) on it beyond those of every type, and the
// combinations that make sense.
func TestTypeTable(t *testing.T) {
	var everywhere []string // changeable on every type
	for _, f := range fieldTable {
		if slices.ContainsFunc(typeTable, func(r TypeRules) bool { return !f.ChangeableOn(r) }) {
			continue
		}
		everywhere = append(everywhere, f.Name)
	}
	for _, f := range []string{"auth_required", "capacity", "name"} {
		if !slices.Contains(everywhere, f) {
			t.Errorf("%s must be changeable on every type", f)
		}
	}
	sip := []string{"addresses", "attributes", "out_sip_password", "out_sip_username", "transformations"}
	// The other types, hosted applications and the fixed system_gateway,
	// have none.
	byType := map[EndpointType][]string{TypeThirdParty: sip, TypeVoicemail: {"properties"}}
	for _, r := range typeTable {
		want := byType[r.Type]
		var got []string
		for _, f := range r.Changeable() {
			if !slices.Contains(everywhere, f) {
				got = append(got, f)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: changeable beyond every type's fields %v, want %v", r.Type, got, want)
		}
		switch {
		case r.APIPath != "" && !r.Hosted, r.Hosted && (r.SIPTrunk || r.VoIPToken):
			t.Errorf("%s: hosted types, and only they, have an api_url; they have no SIP side", r.Type)
		case r.APIPath != "" && r.Properties != nil:
			t.Errorf("%s: generated properties are read-only", r.Type)
		case r.Fixed == r.Creatable:
			t.Errorf("%s: partners create exactly the types they may change", r.Type)
		}
		if got, _ := r.Type.Rules(); got.Type != r.Type || !r.Type.Known() {
			t.Errorf("%s: not found by its name", r.Type)
		}
	}
	if EndpointType("sip").Known() {
		t.Error("an unknown type is known")
	}
}

// Of every type, only the operator's system gateways refuse deletion.
func TestCheckDelete(t *testing.T) {
	for _, r := range typeTable {
		err := (&Endpoint{Type: r.Type}).CheckDelete()
		if r.Type == TypeSystemGateway {
			if ErrorKindOf(err) != KindForbidden || err.Error() != "system_gateway endpoints cannot be changed or deleted" {
				t.Errorf("deleting a system gateway: %v", err)
			}
		} else if err != nil {
			t.Errorf("deleting a %s: %v", r.Type, err)
		}
	}
}
