package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboard-sip/switchboard/sqlstore"
)

// idempotencyPruneEvery is how often expired idempotency-key records are
// deleted (in batches of pruneBatch, PruneIdempotencyKeys): an expired
// record is already ignored, so pruning only bounds the table.
const idempotencyPruneEvery = time.Minute

// keyPruning is what serve's pruning of idempotency keys runs on. The zero
// value is production's: the system clock, a round every
// idempotencyPruneEvery, batches of pruneBatch. Tests set the clock and
// drive the rounds (no flag does).
type keyPruning struct {
	// now is the server's clock of the keys' 24-hour window: the API's
	// (httpapi.Server.Now) and the pruner's.
	now func() time.Time
	// rounds starts a round at each receive; nil: a ticker.
	rounds <-chan time.Time
	batch  int
	// pruned, when set, gets each round's batches' counts once it ends.
	pruned func(batches []int)
}

func (p keyPruning) clock() func() time.Time {
	if p.now == nil {
		return time.Now
	}
	return p.now
}

// background runs the server's periodic database work until stop.
type background struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startBackground(ctx context.Context, db *sqlstore.DB, p keyPruning, logger *slog.Logger) *background {
	ctx, cancel := context.WithCancel(ctx)
	b := &background{cancel: cancel}
	if p.batch == 0 {
		p.batch = pruneBatch
	}
	now := p.clock()
	b.wg.Go(func() {
		rounds := p.rounds
		if rounds == nil {
			tick := time.NewTicker(idempotencyPruneEvery)
			defer tick.Stop()
			rounds = tick.C
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-rounds:
			}
			batches := pruneKeys(ctx, db, now(), p.batch, logger)
			if p.pruned != nil {
				p.pruned(batches)
			}
		}
	})
	return b
}

// pruneKeys is one round: batch after batch while whole batches are due.
// It returns how many each batch deleted.
func pruneKeys(ctx context.Context, db *sqlstore.DB, now time.Time, batch int, logger *slog.Logger) []int {
	var batches []int
	total := 0
	for {
		n, err := db.PruneIdempotencyKeys(ctx, now, batch)
		if err != nil {
			if ctx.Err() == nil {
				logger.Warn("pruning idempotency keys failed", "error", err.Error())
			}
			break
		}
		batches = append(batches, n)
		total += n
		if n < batch {
			break
		}
	}
	if total > 0 {
		logger.Info("pruned expired idempotency keys", "deleted", total)
	}
	return batches
}

// stop ends the work and waits for it (before the database closes).
func (b *background) stop() {
	if b != nil {
		b.cancel()
		b.wg.Wait()
	}
}
