package sqlstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// The store's cost of a keyed create against a plain one (the HTTP A/B is
// switchboard-bench's create and create_key, BENCHMARKS.md).
func BenchmarkCreateOnce(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			dsn := ""
			if backend == "sqlite" {
				dsn = sqlstoretest.SQLiteDSN(b)
			} else {
				dsn = sqlstoretest.PostgresDSN(b)
			}
			db := sqlstoretest.Open(b, dsn)
			p := sb.Partner{PartnerSID: sb.NewSID(), Name: "bench", Scopes: sb.Scopes{sb.ScopeManage}}
			if err := db.CreatePartner(ctx, p, ""); err != nil {
				b.Fatal(err)
			}
			c := sb.Caller{PartnerSID: p.PartnerSID, PartnerName: p.Name, Scopes: p.Scopes}
			var n atomic.Int64
			body := func() sb.Body {
				i := n.Add(1)
				return sb.Body{"type": "third_party", "name": fmt.Sprint("b-", i), "addresses": []any{map[string]any{"ip": fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}}}
			}
			answer := func(e *sb.Endpoint, err error) (sb.Answer, bool) {
				return sb.Answer{Status: 200, Body: make([]byte, 700)}, err == nil
			}
			for _, keyed := range []bool{false, true} {
				b.Run(map[bool]string{false: "create", true: "create_key"}[keyed], func(b *testing.B) {
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							e, err := sb.NewEndpoint(c, body(), sb.NewEndpointParams{PublicURL: "http://x"})
							if err != nil {
								b.Fatal(err)
							}
							if !keyed {
								err = sb.CreateEndpoint(ctx, db, e)
							} else {
								_, _, err = db.CreateEndpointOnce(ctx, sb.IdempotentCreate{PartnerSID: c.PartnerSID, Key: e.EndpointSID,
									RequestHash: "h", Now: time.Now(), Endpoint: e, Answer: answer})
							}
							if err != nil {
								b.Fatal(err)
							}
						}
					})
				})
			}
		})
	}
}
