package sqlstore_test

// Helpers shared by the store tests, which open their databases through
// sqlstoretest.

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
)

var ctx = context.Background()

func newPartner(t *testing.T, db *sqlstore.DB, name string) sb.Caller {
	t.Helper()
	p := sb.Partner{PartnerSID: sb.NewSID(), Name: name, Scopes: sb.Scopes{sb.ScopeManage, sb.ScopeManageAuthRequired}}
	if err := db.CreatePartner(ctx, p, ""); err != nil {
		t.Fatal(err)
	}
	return sb.Caller{PartnerSID: p.PartnerSID, PartnerName: p.Name, Scopes: p.Scopes}
}

func newEndpoint(t *testing.T, c sb.Caller, body sb.Body) *sb.Endpoint {
	t.Helper()
	e, err := sb.NewEndpoint(c, body, sb.NewEndpointParams{PublicURL: "http://sb.test"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func thirdParty(name, ip string, port int, authRequired bool) sb.Body {
	return sb.Body{"type": "third_party", "name": name, "auth_required": authRequired,
		"addresses": []any{map[string]any{"ip": ip, "port": fmt.Sprint(port)}}}
}

func mustStore(t *testing.T, db *sqlstore.DB, c sb.Caller, body sb.Body) *sb.Endpoint {
	t.Helper()
	e := newEndpoint(t, c, body)
	if err := sb.CreateEndpoint(ctx, db, e); err != nil {
		t.Fatal(err)
	}
	return e
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// dump is v in JSON, for messages and raw documents.
func dump(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}
