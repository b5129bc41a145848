package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	sb "github.com/switchboard-sip/switchboard"
)

const (
	selectIdempotencyKey = `SELECT request_hash, status, body, created_at FROM idempotency_keys WHERE partner_sid = ? AND idem_key = ?`
	deleteIdempotencyKey = `DELETE FROM idempotency_keys WHERE partner_sid = ? AND idem_key = ? AND created_at <= ?`
	insertIdempotencyKey = `INSERT INTO idempotency_keys (partner_sid, idem_key, request_hash, status, body, created_at) VALUES (?, ?, ?, ?, ?, ?)`
	// pruneIdempotencyKeys deletes one batch of the oldest expired records.
	pruneIdempotencyKeys = `DELETE FROM idempotency_keys WHERE (partner_sid, idem_key) IN
		(SELECT partner_sid, idem_key FROM idempotency_keys WHERE created_at <= ? ORDER BY created_at LIMIT ?)`
)

// claimKeyCTEs are PostgreSQL's claim of a key, the first part of a keyed
// create's first statement: take the key's lock ($1) without waiting, read
// the key's live record, and when it got the lock and there is none, write
// the request's record (over an expired one). Inserted 0 with the lock and
// no record read: a record committed after the statement's snapshot was
// taken is in the way.
var claimKeyCTEs = `WITH l AS (SELECT ` + postgresDialect{}.keyLock() + ` AS got),
	old AS (SELECT request_hash, status, body, created_at FROM idempotency_keys WHERE partner_sid = $2 AND idem_key = $3 AND created_at > $8),
	ins AS (INSERT INTO idempotency_keys (partner_sid, idem_key, request_hash, status, body, created_at)
		SELECT $2::text, $3::text, $4::text, $5::integer, $6::bytea, $7::bigint FROM l WHERE l.got AND NOT EXISTS (SELECT 1 FROM old)
		ON CONFLICT (partner_sid, idem_key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status,
			body = excluded.body, created_at = excluded.created_at WHERE idempotency_keys.created_at <= $8
		RETURNING 1)`

const claimKeyResult = `SELECT l.got, old.request_hash, old.status, old.body, old.created_at, (SELECT count(*) FROM ins)`

// claimKeyQuery is the claim alone, one round trip: for a request whose
// answer is an error, recorded with nothing created.
var claimKeyQuery = claimKeyCTEs + "\n\t" + claimKeyResult + ` FROM l LEFT JOIN old ON true`

// claimKeyAndInsertQuery is the claim and, only when it wrote the
// request's record, the insert of the endpoint's row ($9 on, as in
// insertEndpointRow), in one statement: a keyed create costs no more round
// trips than a plain one (the statements of a group commit's batch run one
// after another, so each round trip counts). The insert reads the record's
// insert, which orders it after the claim.
var claimKeyAndInsertQuery = func() string {
	n := 8
	values := columnList(insertedColumn, func(column) string { n++; return "$" + strconv.Itoa(n) })
	return claimKeyCTEs + `,
	e AS (INSERT INTO endpoints (` + columnList(insertedColumn, columnName) + `) SELECT ` + values + ` WHERE EXISTS (SELECT 1 FROM ins) RETURNING id)
	` + claimKeyResult + `, (SELECT id FROM e) FROM l LEFT JOIN old ON true`
}()

// idempotencyStatements are the hot statements of keyed creates, prepared
// on the write pool.
func (db *DB) idempotencyStatements() []string {
	if db.dialect.keyLock() != "" {
		return []string{claimKeyQuery, claimKeyAndInsertQuery}
	}
	return []string{insertIdempotencyKey}
}

// keyRecord is a key's record as read.
type keyRecord struct {
	hash      sql.NullString
	status    sql.NullInt64
	body      []byte
	createdAt sql.NullInt64
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

// readKey reads the key's record on the read pool.
func (db *DB) readKey(ctx context.Context, req sb.IdempotentCreate) (keyRecord, error) {
	var k keyRecord
	err := db.readRetrying(ctx, func() error {
		return db.readRow(ctx, selectIdempotencyKey, req.PartnerSID, req.Key).Scan(&k.hash, &k.status, &k.body, &k.createdAt)
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return k, err
}

var (
	// errKeyInTheWay: the record a request would write met the key's
	// record, written since the request looked: run again, to replay it.
	errKeyInTheWay = errors.New("a record of the key is in the way")
)

// createFailed is a create that failed in the transaction: on PostgreSQL
// the failed statement aborted the transaction, so its answer is recorded
// in a transaction of its own.
type createFailed struct{ err error }

func (e *createFailed) Error() string { return e.err.Error() }

// CreateEndpointOnce creates only when the key is new, in one transaction
// with the key's record, so that a crash never leaves an endpoint without
// its key's record or the reverse. The record is written first (the answer
// of a create does not depend on the row's id); a create that then fails
// (a taken address or login) undoes the transaction, and its answer is
// recorded alone.
//
// The primary key of idempotency_keys is the invariant: of two requests
// with one key, the second finds the first's record when it writes its own
// and replays it.
//
// While a request holds a key, the others with that key are answered
// ErrKeyInFlight. On PostgreSQL the marker is a transaction-level advisory
// lock on the key, taken without waiting in the statement that reads and
// writes the record (claimKeyQuery): it is seen by every process and
// released when the transaction ends, however it ends, a killed process's
// connection included, so no marker outlives its request. On SQLite the
// write transaction is exclusive (across processes too): a second request
// runs after the first has committed; its insert of the record fails on
// the primary key, and it reads the record and replays it (a new key, the
// common case, costs the one writer no look-up).
func (db *DB) CreateEndpointOnce(ctx context.Context, req sb.IdempotentCreate) (sb.Answer, bool, error) {
	expired := false // SQLite: a record past its window is in the way
	for attempt := 1; ; attempt++ {
		ans, replayed, err := db.createOnceRetryingLogins(ctx, req, expired)
		again := attempt < maxAttempts
		if failed := (*createFailed)(nil); errors.As(err, &failed) && again {
			req.Endpoint, req.Err = nil, failed.err // its answer is recorded alone
			continue
		}
		table, unique := db.dialect.uniqueViolation(err)
		if (errors.Is(err, errKeyInTheWay) || (unique && table == "idempotency_keys")) && again {
			rec, err := db.readKey(ctx, req)
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

// createOnce is one transaction: the key's record (on PostgreSQL with the
// key's lock), then the create unless req.Endpoint is nil. expired
// (SQLite): delete the key's record that is past its window first.
func (db *DB) createOnce(ctx context.Context, req sb.IdempotentCreate, expired bool) (sb.Answer, bool, error) {
	ans, record := req.Answer(req.Endpoint, req.Err)
	if !record {
		// Nothing to record: the key's record, if any, is still the answer.
		rec, err := db.readKey(ctx, req)
		if err != nil {
			return sb.Answer{}, false, err
		}
		if ans, done, err := rec.answer(req); done {
			return ans, err == nil, err
		}
		if req.Err == nil {
			return sb.Answer{}, false, errors.New("idempotent create: the answer to a success was not recorded")
		}
		return sb.Answer{}, false, req.Err
	}
	var doc []byte // the change's record, encoded before the write's turn (CreateEndpoint)
	if req.Endpoint != nil {
		var err error
		if doc, err = json.Marshal(req.Endpoint); err != nil {
			return sb.Answer{}, false, err
		}
	}
	var replay sb.Answer
	var replayed bool
	err := db.changeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		replay, replayed = sb.Answer{}, false
		cutoff, now := req.Now.Add(-sb.IdempotencyWindow).UnixMilli(), req.Now.UnixMilli()
		inserted := false // the endpoint's row, by the claim's statement
		if db.dialect.keyLock() != "" {
			var got bool
			var rec keyRecord
			var claimed int
			var id sql.NullInt64
			query := claimKeyQuery
			args := []any{keyLockID(req.PartnerSID, req.Key), req.PartnerSID, req.Key, req.RequestHash, ans.Status, ans.Body, now, cutoff}
			dest := []any{&got, &rec.hash, &rec.status, &rec.body, &rec.createdAt, &claimed}
			if req.Endpoint != nil {
				values, err := endpointValues(req.Endpoint, insertedColumn)
				if err != nil {
					return err
				}
				query, args, dest = claimKeyAndInsertQuery, append(args, values...), append(dest, &id)
			}
			err := db.queryRow(ctx, tx, query, args...).Scan(dest...)
			if table, unique := db.dialect.uniqueViolation(err); unique && table == "endpoints" {
				return &createFailed{sb.ErrLoginTaken}
			}
			switch {
			case err != nil:
				return err
			case !got:
				return sb.ErrKeyInFlight
			case rec.hash.Valid:
				var err error
				replay, _, err = rec.answer(req)
				replayed = err == nil
				return err
			case claimed == 0:
				return errKeyInTheWay
			}
			if req.Endpoint != nil {
				req.Endpoint.ID, inserted = id.Int64, true
			}
		} else {
			if expired { // not pruned yet: the key is new again
				if _, err := db.exec(ctx, tx, deleteIdempotencyKey, req.PartnerSID, req.Key, cutoff); err != nil {
					return err
				}
			}
			if _, err := db.exec(ctx, tx, insertIdempotencyKey, req.PartnerSID, req.Key, req.RequestHash, ans.Status, ans.Body, now); err != nil {
				return err
			}
		}
		if req.Endpoint == nil {
			return nil
		}
		var err error
		if inserted {
			err = db.writeSearchRows(ctx, tx, req.Endpoint)
		} else {
			err = db.insertEndpoint(ctx, tx, req.Endpoint)
		}
		if err != nil {
			if sb.ErrorKindOf(err) != 0 || errors.Is(err, sb.ErrLoginTaken) {
				return &createFailed{err}
			}
			return err
		}
		return db.recordChanges(ctx, tx, pendingChange{operation: sb.ChangeCreated, endpoint: req.Endpoint, doc: doc})
	})
	if replayed {
		return replay, true, err
	}
	return ans, false, err
}

// keyLockID is the advisory lock of a partner's key: 64 bits of a hash (two
// keys sharing one would at worst answer each other's retries 409 while
// both run).
func keyLockID(partnerSID, key string) int64 {
	h := sha256.Sum256([]byte(partnerSID + "\x00" + key))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// PruneIdempotencyKeys deletes up to batch of the oldest key records past
// their window at now, in one transaction, and returns how many it
// deleted. The caller keeps batches small (serve: 500), so that pruning
// never holds the writer (SQLite) or many row locks for long, and calls
// again while a whole batch was due.
func (db *DB) PruneIdempotencyKeys(ctx context.Context, now time.Time, batch int) (int, error) {
	cutoff := now.Add(-sb.IdempotencyWindow).UnixMilli()
	var n int64
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(pruneIdempotencyKeys), cutoff, batch)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
