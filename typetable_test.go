package switchboard

import (
	"slices"
	"testing"
)

// Each type's row, as the rules of §4 read: what a partner may change (and
// a PUT must hold), and the combinations that make sense.
func TestTypeTable(t *testing.T) {
	sip := []string{"addresses", "attributes", "auth_required", "capacity", "name", "out_sip_password", "out_sip_username", "transformations"}
	app := []string{"auth_required", "capacity", "name"}
	changeable := map[EndpointType][]string{
		TypeConference: app, TypeConferencePlayback: app, TypeConferenceV2: app, TypeFlexML: app, TypeMediator: app,
		TypeSystemGateway: app, // but Fixed: no partner changes it at all
		TypeThirdParty:    sip,
		TypeVoicemail:     {"auth_required", "capacity", "name", "properties"},
	}
	if len(typeTable) != len(changeable) {
		t.Errorf("%d rows for %d types", len(typeTable), len(changeable))
	}
	for _, r := range typeTable {
		want, ok := changeable[r.Type]
		if !ok {
			t.Errorf("%s: a row for a type the test does not know", r.Type)
		}
		if got := r.Changeable(); !slices.Equal(got, want) {
			t.Errorf("%s: changeable %v, want %v", r.Type, got, want)
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
