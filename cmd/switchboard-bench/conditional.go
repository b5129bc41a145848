package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
)

// The scenarios of conditional requests and idempotent retries, each with
// its baseline, to run side by side in one run (BENCHMARKS.md):
//
//	create_key      create with a new Idempotency-Key per request (baseline: create)
//	patch_seq       PATCH of the seeded endpoints in turn (the baseline of patch_if_match)
//	patch_if_match  the same PATCHes, each with If-Match naming the ETag the last answer gave
//
// The PATCHes go round the seeded endpoints in turn, so that no two clients
// PATCH one endpoint at once (an If-Match would then fail, and a 412 is
// cheaper than a write) unless there are fewer endpoints than clients.
type conditionalScenarios struct {
	next  atomic.Uint64
	etags []atomic.Pointer[string] // by index of b.sids; set by prefetch and by answers
}

func (b *bench) conditionalScenarios() map[string]scenario {
	c := b.conditional
	turn := func() int { return int(c.next.Add(1) % uint64(len(b.sids))) }
	return map[string]scenario{
		"create_key": func(r *rand.Rand) request {
			rq := b.scenarios()["create"](r)
			rq.header = [][2]string{{"Idempotency-Key", fmt.Sprintf("bench-%016x%016x", r.Uint64(), r.Uint64())}}
			return rq
		},
		"patch_seq": func(r *rand.Rand) request {
			i := turn()
			return request{method: "PATCH", path: "/core/v2/endpoints/" + b.sids[i], body: fmt.Sprintf(`{"name":"renamed-%d"}`, r.Uint64()), etag: &c.etags[i]}
		},
		"patch_if_match": func(r *rand.Rand) request {
			i := turn()
			rq := request{method: "PATCH", path: "/core/v2/endpoints/" + b.sids[i], body: fmt.Sprintf(`{"name":"renamed-%d"}`, r.Uint64()), etag: &c.etags[i]}
			if c.etags[i].Load() == nil {
				// Unknown since a request was cut off at the end of a run:
				// read it (before the request's clock starts).
				b.send(context.Background(), b.o.base, request{method: "GET", path: rq.path, etag: &c.etags[i]})
			}
			if tag := c.etags[i].Load(); tag != nil {
				rq.header = [][2]string{{"If-Match", *tag}}
			}
			return rq
		},
	}
}

// prefetchETags reads every seeded endpoint's ETag before the scenarios,
// when patch_if_match is among them, so that its PATCHes are all
// conditional from the first.
func (b *bench) prefetchETags(ctx context.Context, scenarios string) error {
	b.conditional = &conditionalScenarios{etags: make([]atomic.Pointer[string], len(b.sids))}
	if !strings.Contains(scenarios, "patch_if_match") {
		return nil
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	var failed atomic.Pointer[error]
	for range b.o.concurrency {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(b.sids) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				if _, _, err := b.send(ctx, b.o.base, request{method: "GET", path: "/core/v2/endpoints/" + b.sids[i], etag: &b.conditional.etags[i]}); err != nil {
					failed.Store(&err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return fmt.Errorf("reading ETags: %w", *err)
	}
	return ctx.Err()
}
