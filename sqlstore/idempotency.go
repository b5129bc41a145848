package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"time"

	sb "github.com/switchboard-sip/switchboard"
)

const (
	selectIdempotencyKey = `SELECT request_hash, status, body, created_at FROM idempotency_keys WHERE partner_sid = ? AND idem_key = ?`
	deleteIdempotencyKey = `DELETE FROM idempotency_keys WHERE partner_sid = ? AND idem_key = ?`
	insertIdempotencyKey = `INSERT INTO idempotency_keys (partner_sid, idem_key, request_hash, status, body, created_at) VALUES (?, ?, ?, ?, ?, ?)`
	// pruneIdempotencyKeys deletes one batch of the oldest expired records.
	pruneIdempotencyKeys = `DELETE FROM idempotency_keys WHERE (partner_sid, idem_key) IN
		(SELECT partner_sid, idem_key FROM idempotency_keys WHERE created_at <= ? ORDER BY created_at LIMIT ?)`
)

// CreateEndpointOnce looks the key up and creates only when it is new, in
// one transaction, so that a crash never leaves an endpoint without its
// key's record or the reverse.
//
// While a request holds a key, the others with that key are answered
// ErrKeyInFlight. On PostgreSQL the marker is a transaction-level advisory
// lock on the key (taken without waiting): it is seen by every process and
// released when the transaction ends, however it ends, a killed process's
// connection included, so no marker outlives its request. On SQLite the
// write transaction is exclusive (across processes too), so a second
// request runs after the first has committed and replays its answer.
func (db *DB) CreateEndpointOnce(ctx context.Context, req sb.IdempotentCreate) (sb.Answer, bool, error) {
	var ans sb.Answer
	var replayed bool
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		ans, replayed = sb.Answer{}, false
		if lock := db.dialect.keyLock(); lock != "" {
			var got bool
			if err := tx.QueryRowContext(ctx, db.q(lock), keyLockID(req.PartnerSID, req.Key)).Scan(&got); err != nil {
				return err
			}
			if !got {
				return sb.ErrKeyInFlight
			}
		}
		var hash string
		var createdAt int64
		var stored sb.Answer
		err := tx.QueryRowContext(ctx, db.q(selectIdempotencyKey), req.PartnerSID, req.Key).Scan(&hash, &stored.Status, &stored.Body, &createdAt)
		switch {
		case err == nil && createdAt > req.Now.Add(-sb.IdempotencyWindow).UnixMilli():
			if hash != req.RequestHash {
				return sb.ErrKeyReused
			}
			ans, replayed = stored, true
			return nil
		case err == nil: // expired, not pruned yet: the key is new again
			if _, err := tx.ExecContext(ctx, db.q(deleteIdempotencyKey), req.PartnerSID, req.Key); err != nil {
				return err
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		outcome := req.Err
		if req.Endpoint != nil {
			outcome = sb.RetryLogins(req.Endpoint, func(e *sb.Endpoint) error { return db.insertInSavepoint(ctx, tx, e) })
		}
		a, record := req.Answer(req.Endpoint, outcome)
		if !record {
			if outcome == nil {
				return errors.New("idempotent create: the answer to a success was not recorded")
			}
			return outcome
		}
		if _, err := tx.ExecContext(ctx, db.q(insertIdempotencyKey), req.PartnerSID, req.Key, req.RequestHash, a.Status, a.Body, req.Now.UnixMilli()); err != nil {
			return err
		}
		ans = a
		return nil
	})
	return ans, replayed, err
}

// insertInSavepoint inserts e so that a failure (a taken login or address)
// undoes its rows alone: the transaction goes on to record that answer (on
// PostgreSQL a failed statement would abort the whole transaction).
func (db *DB) insertInSavepoint(ctx context.Context, tx *sql.Tx, e *sb.Endpoint) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT create_once`); err != nil {
		return err
	}
	err := db.insertEndpoint(ctx, tx, e)
	if err != nil {
		if _, rbErr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT create_once`); rbErr != nil {
			return errors.Join(err, rbErr)
		}
	}
	if _, relErr := tx.ExecContext(ctx, `RELEASE SAVEPOINT create_once`); relErr != nil {
		return errors.Join(err, relErr)
	}
	return err
}

// keyLockID is the advisory lock of a partner's key: 64 bits of a hash (two
// keys sharing one would at worst answer each other's retries 409 while
// both run).
func keyLockID(partnerSID, key string) int64 {
	h := sha256.Sum256([]byte(partnerSID + "\x00" + key))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// pruneBatch is how many expired key records one prune transaction deletes:
// small, so that pruning never holds the writer (SQLite) or many row locks
// for long.
const pruneBatch = 500

// PruneIdempotencyKeys deletes the key records older than the window at
// now, a batch per transaction, and returns how many it deleted.
func (db *DB) PruneIdempotencyKeys(ctx context.Context, now time.Time) (int64, error) {
	cutoff := now.Add(-sb.IdempotencyWindow).UnixMilli()
	var total int64
	for ctx.Err() == nil {
		var n int64
		err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, db.q(pruneIdempotencyKeys), cutoff, pruneBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
	return total, ctx.Err()
}
