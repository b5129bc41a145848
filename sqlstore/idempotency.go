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
	deleteIdempotencyKey = `DELETE FROM idempotency_keys WHERE partner_sid = ? AND idem_key = ? AND created_at <= ?`
	insertIdempotencyKey = `INSERT INTO idempotency_keys (partner_sid, idem_key, request_hash, status, body, created_at) VALUES (?, ?, ?, ?, ?, ?)`
	// pruneIdempotencyKeys deletes one batch of the oldest expired records.
	pruneIdempotencyKeys = `DELETE FROM idempotency_keys WHERE (partner_sid, idem_key) IN
		(SELECT partner_sid, idem_key FROM idempotency_keys WHERE created_at <= ? ORDER BY created_at LIMIT ?)`
)

// keyLookupQuery reads the key's record, if any, and, where write
// transactions are not exclusive, takes the key's lock in the same
// statement (one round trip on PostgreSQL).
func (db *DB) keyLookupQuery() string {
	lock := db.dialect.keyLock()
	if lock == "" {
		lock = "? IS NOT NULL"
	}
	return `SELECT ` + lock + `, k.request_hash, k.status, k.body, k.created_at FROM (SELECT 1) AS one
		LEFT JOIN idempotency_keys k ON k.partner_sid = ? AND k.idem_key = ?`
}

// keyRecord is what keyLookupQuery read.
type keyRecord struct {
	locked    bool
	hash      sql.NullString
	status    sql.NullInt64
	body      []byte
	createdAt sql.NullInt64
}

func (k *keyRecord) scan(row *sql.Row) error {
	return row.Scan(&k.locked, &k.hash, &k.status, &k.body, &k.createdAt)
}

// answer is the outcome of a request that finds the record: its answer
// again, or ErrKeyReused; done is false when there is no live record.
func (k *keyRecord) answer(req sb.IdempotentCreate) (ans sb.Answer, done bool, err error) {
	if !k.hash.Valid || k.createdAt.Int64 <= req.Now.Add(-sb.IdempotencyWindow).UnixMilli() {
		return sb.Answer{}, false, nil
	}
	if k.hash.String != req.RequestHash {
		return sb.Answer{}, true, sb.ErrKeyReused
	}
	return sb.Answer{Status: int(k.status.Int64), Body: k.body}, true, nil
}

// createFailed is a create that failed in the transaction: on PostgreSQL
// the failed statement aborted the transaction, so its answer is recorded
// in a transaction of its own.
type createFailed struct{ err error }

func (e *createFailed) Error() string { return e.err.Error() }

// CreateEndpointOnce creates only when the key is new, in one transaction
// with the key's record, so that a crash never leaves an endpoint without
// its key's record or the reverse. A create that fails (a taken address or
// login) created nothing; its answer is recorded alone.
//
// The primary key of idempotency_keys is the invariant: of two requests
// with one key, the second fails to write its record, which undoes its
// create, and then reads the first's record and replays it.
//
// While a request holds a key, the others with that key are answered
// ErrKeyInFlight. On PostgreSQL the marker is a transaction-level advisory
// lock on the key (taken without waiting), read with the record in one
// statement: it is seen by every process and released when the
// transaction ends, however it ends, a killed process's connection
// included, so no marker outlives its request. On SQLite the write
// transaction is exclusive (across processes too): a second request runs
// after the first has committed, so the record needs no look-up on the one
// writer in the common case, a new key; the insert of the record finds a
// record that is there.
func (db *DB) CreateEndpointOnce(ctx context.Context, req sb.IdempotentCreate) (sb.Answer, bool, error) {
	expired := false // a record past its window is in the way (SQLite)
	for attempt := 1; ; attempt++ {
		ans, replayed, err := db.createOnceRetryingLogins(ctx, req, expired)
		if failed := (*createFailed)(nil); errors.As(err, &failed) {
			req.Endpoint, req.Err = nil, failed.err
			if attempt < maxAttempts {
				continue // the failure's answer is recorded alone
			}
		}
		if table, unique := db.dialect.uniqueViolation(err); unique && table == "idempotency_keys" && attempt < maxAttempts {
			var rec keyRecord
			err := db.readRetrying(ctx, func() error {
				return rec.scan(db.readRow(ctx, db.keyLookupQuery(), keyLockID(req.PartnerSID, req.Key), req.PartnerSID, req.Key))
			})
			if err != nil {
				return sb.Answer{}, false, err
			}
			if ans, done, err := rec.answer(req); done {
				return ans, err == nil, err
			}
			expired = rec.hash.Valid
			continue
		}
		return ans, replayed, err
	}
}

// createOnceRetryingLogins is createOnce with a new login while the
// endpoint's is taken (sb.RetryLogins).
func (db *DB) createOnceRetryingLogins(ctx context.Context, req sb.IdempotentCreate, expired bool) (ans sb.Answer, replayed bool, err error) {
	if req.Endpoint == nil {
		return db.createOnce(ctx, req, expired)
	}
	retried := sb.RetryLogins(req.Endpoint, func(*sb.Endpoint) error {
		ans, replayed, err = db.createOnce(ctx, req, expired)
		if failed := (*createFailed)(nil); errors.As(err, &failed) && errors.Is(failed.err, sb.ErrLoginTaken) {
			return sb.ErrLoginTaken
		}
		return nil
	})
	if retried != nil {
		return sb.Answer{}, false, retried
	}
	return ans, replayed, err
}

// createOnce is one transaction: on PostgreSQL the key's lock and record;
// then the create (unless req.Endpoint is nil) and the answer's record.
// expired: delete the key's record that is past its window first.
func (db *DB) createOnce(ctx context.Context, req sb.IdempotentCreate, expired bool) (sb.Answer, bool, error) {
	var ans sb.Answer
	var replayed bool
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		ans, replayed = sb.Answer{}, false
		if db.dialect.keyLock() != "" {
			var rec keyRecord
			if err := rec.scan(db.queryRow(ctx, tx, db.keyLookupQuery(), keyLockID(req.PartnerSID, req.Key), req.PartnerSID, req.Key)); err != nil {
				return err
			}
			if !rec.locked {
				return sb.ErrKeyInFlight
			}
			var done bool
			var err error
			if ans, done, err = rec.answer(req); done {
				replayed = err == nil
				return err
			}
			expired = rec.hash.Valid
		}
		if expired { // not pruned yet: the key is new again
			if _, err := db.exec(ctx, tx, deleteIdempotencyKey, req.PartnerSID, req.Key, req.Now.Add(-sb.IdempotencyWindow).UnixMilli()); err != nil {
				return err
			}
		}
		if req.Endpoint != nil {
			if err := db.insertEndpoint(ctx, tx, req.Endpoint); err != nil {
				if sb.ErrorKindOf(err) != 0 || errors.Is(err, sb.ErrLoginTaken) {
					return &createFailed{err}
				}
				return err
			}
		}
		a, record := req.Answer(req.Endpoint, req.Err)
		if !record {
			if req.Err == nil {
				return errors.New("idempotent create: the answer to a success was not recorded")
			}
			return req.Err
		}
		if _, err := db.exec(ctx, tx, insertIdempotencyKey, req.PartnerSID, req.Key, req.RequestHash, a.Status, a.Body, req.Now.UnixMilli()); err != nil {
			return err
		}
		ans = a
		return nil
	})
	return ans, replayed, err
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
