package httpapi

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"strings"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// slowLists serves lists from a second store on the same database whose
// statement timeout is a nanosecond: every list takes longer than that
// before its first row, while authentication stays on the fixture's store.
type slowLists struct {
	sb.Store
	lists *sqlstore.DB
}

func (s slowLists) ListEndpoints(ctx context.Context, partnerSID string, q sb.ListQuery, write func(sb.PageInfo, iter.Seq2[*sb.Endpoint, error]) error) error {
	return s.lists.ListEndpoints(ctx, partnerSID, q, write)
}

// A list past the statement timeout answers 503 with the CarrierX body,
// without SQL in it.
func TestListPastTheStatementTimeoutIs503(t *testing.T) {
	dsn := sqlstoretest.SQLiteDSN(t)
	f := newFixtureOn(t, dsn, "")
	for i := range 20 {
		f.create(f.admin, `{"type":"third_party","name":"e`+string(rune('a'+i))+`","addresses":[{"ip":"10.0.0.1"}]}`)
	}
	lists, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{StatementTimeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer lists.Close()
	f.store.Store = slowLists{Store: f.store.Store, lists: lists}

	r := f.do("GET", "/core/v2/endpoints?limit=20", f.admin, "")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d %s, want 503", r.status, r.body)
	}
	var body errorBody
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Message != "service unavailable" || len(body.Errors) != 1 {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if strings.Contains(r.body, "SELECT") || strings.Contains(r.body, "context") {
		t.Fatalf("the body shows internals: %s", r.body)
	}
	if n := lists.Pools()["read"].Stats().InUse; n != 0 {
		t.Fatalf("%d connections still in use", n)
	}
}
