package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboard-sip/switchboard/sqlstore"
)

// idempotencyPruneEvery is how often expired idempotency-key records are
// deleted (in small batches, PruneIdempotencyKeys): an expired record is
// already ignored, so pruning only bounds the table.
const idempotencyPruneEvery = time.Minute

// background runs the server's periodic database work until stop.
type background struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startBackground(ctx context.Context, db *sqlstore.DB, logger *slog.Logger) *background {
	ctx, cancel := context.WithCancel(ctx)
	b := &background{cancel: cancel}
	b.wg.Go(func() {
		tick := time.NewTicker(idempotencyPruneEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if n, err := db.PruneIdempotencyKeys(ctx, time.Now()); err != nil && ctx.Err() == nil {
				logger.Warn("pruning idempotency keys failed", "error", err.Error())
			} else if n > 0 {
				logger.Info("pruned expired idempotency keys", "deleted", n)
			}
		}
	})
	return b
}

// stop ends the work and waits for it (before the database closes).
func (b *background) stop() {
	if b != nil {
		b.cancel()
		b.wg.Wait()
	}
}
