package httpapi

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// The answer cache's limit is what its answers really take on the heap:
// counted too high, 64 MiB held a seventh fewer answers than it had room
// for; too low, the process outgrows --answer-cache-mib. Each case keeps
// 50,000 answers of one size, as GET keeps them (marshal's JSON, a SID from
// the request, the ETag), and compares the heap's growth with the count.
func TestAnswerCacheCountsWhatItHolds(t *testing.T) {
	for _, size := range []int{250, 560, 900, 2000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			const n = 50_000
			doc := map[string]string{"a": strings.Repeat("x", size-8)}
			sids := make([]string, n)
			for i := range sids {
				sids[i] = "/core/v2/endpoints/" + uuid.NewString() // as a path holds it
			}
			c := newAnswerCache(nil, 1<<30)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i, sid := range sids {
				data, err := marshal(doc)
				if err != nil {
					t.Fatal(err)
				}
				c.keep("partner", sid[len(sid)-36:], endpointAnswer{data, etagOf(data), int64(i + 1)})
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			held := 0
			for _, p := range c.partners {
				held += len(p.answers)
			}
			if held != n {
				t.Fatalf("the cache holds %d answers of %d", held, n)
			}
			real := float64(after.HeapAlloc-before.HeapAlloc) / n
			counted := float64(c.size) / n
			t.Logf("%d-byte answers: %.0f bytes each on the heap, %.0f counted", size, real, counted)
			if counted < real*0.97 || counted > real*1.05 {
				t.Errorf("an answer of %d bytes takes %.0f bytes on the heap, the cache counts %.0f", size, real, counted)
			}
			runtime.KeepAlive(c)
			runtime.KeepAlive(sids)
		})
	}
}
