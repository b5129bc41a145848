package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	sb "github.com/switchboard-sip/switchboard"
)

// The change feed (docs/change-feed.md). A write transaction that changes
// endpoints ends by recording them (recordChanges): each change takes the
// next global position and its partner's next revision from counter rows
// whose locks the transaction then holds until it commits. On PostgreSQL
// that makes commits, and so visibility, follow position and revision
// order; SQLite has one writer anyway.

// pendingChange is a change a write transaction is about to record.
type pendingChange struct {
	operation string
	endpoint  *sb.Endpoint
	// doc is the endpoint's JSON when the write has it already (an update
	// compares it with the stored one); nil: encoded when recorded.
	doc []byte
}

const (
	// One statement on PostgreSQL for all the changes of a transaction (or
	// of a group commit's batch), so that the counter locks are taken at
	// the very end and held only through the commit. Positions follow the
	// input's order; each partner's revisions too. p reads g, so the
	// global row's lock always comes first, and partner rows are locked
	// only under it: no deadlock between transactions recording changes.
	recordChangePostgres = `WITH input AS (
  SELECT t.partner_sid, t.operation, t.endpoint_sid, t.endpoint, t.n
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS t(partner_sid, operation, endpoint_sid, endpoint, n)),
g AS (UPDATE change_feed_position SET position = position + (SELECT count(*) FROM input) WHERE id = 1
      RETURNING position - (SELECT count(*) FROM input) AS base),
counts AS (SELECT partner_sid, count(*) AS k FROM input GROUP BY partner_sid),
p AS (INSERT INTO partner_revisions (partner_sid, revision)
      SELECT c.partner_sid, c.k FROM counts c, g ORDER BY c.partner_sid
      ON CONFLICT (partner_sid) DO UPDATE SET revision = partner_revisions.revision + EXCLUDED.revision
      RETURNING partner_sid, revision)
INSERT INTO endpoint_changes (position, partner_sid, revision, operation, endpoint_sid, occurred_at, endpoint)
SELECT g.base + i.n, i.partner_sid, p.revision - c.k + row_number() OVER (PARTITION BY i.partner_sid ORDER BY i.n),
       i.operation, i.endpoint_sid, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, i.endpoint
FROM input i JOIN counts c ON c.partner_sid = i.partner_sid JOIN p ON p.partner_sid = i.partner_sid, g`
	// On SQLite a batch takes its positions in one statement and each
	// partner's revisions in one: the last number taken is returned.
	nextPositionSQLite = `UPDATE change_feed_position SET position = position + ? WHERE id = 1 RETURNING position`
	nextRevisionSQLite = `INSERT INTO partner_revisions (partner_sid, revision) VALUES (?, ?)
ON CONFLICT (partner_sid) DO UPDATE SET revision = revision + excluded.revision RETURNING revision`
	insertChangeSQLite = `INSERT INTO endpoint_changes (position, partner_sid, revision, operation, endpoint_sid, occurred_at, endpoint) VALUES (?, ?, ?, ?, ?, ?, ?)`

	selectPartnerRevision = `SELECT COALESCE((SELECT revision FROM partner_revisions WHERE partner_sid = ?), 0)`
	selectFeedPosition    = `SELECT position FROM change_feed_position WHERE id = 1`
	changeColumns         = `position, partner_sid, revision, operation, endpoint_sid, occurred_at, endpoint`
	selectPartnerChanges  = `SELECT ` + changeColumns + ` FROM endpoint_changes WHERE partner_sid = ? AND revision > ? ORDER BY revision LIMIT ?`
	selectOperatorChanges = `SELECT ` + changeColumns + ` FROM endpoint_changes WHERE position > ? ORDER BY position LIMIT ?`
)

// changeStatements are the feed's write statements, prepared with the
// others (statements.go).
func (db *DB) changeStatements() []string {
	if db.isPostgres() {
		return []string{recordChangePostgres}
	}
	return []string{nextPositionSQLite, nextRevisionSQLite, insertChangeSQLite}
}

func (db *DB) isPostgres() bool {
	_, ok := db.dialect.(postgresDialect)
	return ok
}

// recordChanges records the transaction's changes, in order. It must be the
// transaction's last work. In a group commit's batch they are written at
// the batch's end (groupcommit.go).
func (db *DB) recordChanges(ctx context.Context, tx *sql.Tx, changes ...pendingChange) error {
	if len(changes) == 0 || (db.committer != nil && db.committer.defer_(tx, changes)) {
		return nil
	}
	return db.writeChanges(ctx, tx, changes)
}

// writeChanges writes change records in tx.
func (db *DB) writeChanges(ctx context.Context, tx *sql.Tx, changes []pendingChange) error {
	docs := make([]string, len(changes))
	for i, c := range changes {
		doc := c.doc
		if doc == nil {
			var err error
			if doc, err = json.Marshal(c.endpoint); err != nil {
				return err
			}
		}
		docs[i] = string(doc)
	}
	if db.isPostgres() {
		columns := make([][]string, 3)
		for _, c := range changes {
			columns[0] = append(columns[0], c.endpoint.PartnerSID)
			columns[1] = append(columns[1], c.operation)
			columns[2] = append(columns[2], c.endpoint.EndpointSID)
		}
		if _, err := db.exec(ctx, tx, recordChangePostgres, columns[0], columns[1], columns[2], docs); err != nil {
			return err
		}
		return db.countEndpoints(ctx, tx, changes)
	}
	var position int64
	if err := db.queryRow(ctx, tx, nextPositionSQLite, len(changes)).Scan(&position); err != nil {
		return err
	}
	position -= int64(len(changes)) // the batch takes the positions after this one
	counts := map[string]int64{}
	for _, c := range changes {
		counts[c.endpoint.PartnerSID]++
	}
	nextRevision := make(map[string]int64, len(counts))
	for partner, k := range counts {
		var last int64
		if err := db.queryRow(ctx, tx, nextRevisionSQLite, partner, k).Scan(&last); err != nil {
			return err
		}
		nextRevision[partner] = last - k + 1
	}
	for i, c := range changes {
		e := c.endpoint
		position++
		revision := nextRevision[e.PartnerSID]
		nextRevision[e.PartnerSID]++
		if _, err := db.exec(ctx, tx, insertChangeSQLite, position, e.PartnerSID, revision, c.operation, e.EndpointSID,
			time.Now().UnixMicro(), docs[i]); err != nil {
			return err
		}
	}
	return db.countEndpoints(ctx, tx, changes)
}

// changeTx is inTx for transactions that record changes: once one has
// committed, the followers are woken.
func (db *DB) changeTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	err := db.inTx(ctx, fn)
	if err == nil {
		db.changed()
	}
	return err
}

// readTx runs fn in one read-only transaction on one snapshot (repeatable
// read: PostgreSQL's default would give each statement its own), again
// when the connection was lost.
func (db *DB) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.readRetrying(ctx, func() error {
		tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Commit()
	})
}

// PartnerChanges returns up to limit of the partner's changes with a
// revision above since, in revision order, and the partner's current
// revision, read on one snapshot. It returns sb.ErrChangesPruned when a
// change above since was pruned, and a bad request (field since) when since
// is above the current revision.
func (db *DB) PartnerChanges(ctx context.Context, partnerSID string, since int64, limit int) (changes []sb.EndpointChange, current int64, err error) {
	err = db.readTx(ctx, func(tx *sql.Tx) error {
		changes = nil
		if err := tx.QueryRowContext(ctx, db.q(selectPartnerRevision), partnerSID).Scan(&current); err != nil {
			return err
		}
		if since > current {
			return sb.BadRequest("since", "since is higher than the current revision")
		}
		if since == current {
			return nil
		}
		if changes, err = db.scanChanges(tx.QueryContext(ctx, db.q(selectPartnerChanges), partnerSID, since, limit)); err != nil {
			return err
		}
		// Revisions are dense and only pruning removes changes, oldest
		// first: a missing next revision was pruned.
		if len(changes) == 0 || changes[0].Revision != since+1 {
			return sb.ErrChangesPruned
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	for i := range changes {
		changes[i].Cursor = ""
	}
	return changes, current, nil
}

// PartnerRevision returns the partner's current revision.
func (db *DB) PartnerRevision(ctx context.Context, partnerSID string) (int64, error) {
	var rev int64
	err := db.readRetrying(ctx, func() error {
		return db.readRow(ctx, selectPartnerRevision, partnerSID).Scan(&rev)
	})
	return rev, err
}

// cursorPrefix marks the operators' cursors (a global position); the
// format is not a promise.
const cursorPrefix = "p"

func formatCursor(position int64) string { return cursorPrefix + strconv.FormatInt(position, 10) }

// ErrBadCursor: the cursor is not one the operators' feed gave (or is
// ahead of this database's feed).
var ErrBadCursor = errors.New("not a cursor of this database's change feed")

func parseCursor(cursor string) (int64, error) {
	digits, ok := strings.CutPrefix(cursor, cursorPrefix)
	n, err := strconv.ParseInt(digits, 10, 64)
	if !ok || err != nil || n < 0 || digits != strconv.FormatInt(n, 10) {
		return 0, ErrBadCursor
	}
	return n, nil
}

// OperatorChanges returns up to limit changes of every partner after the
// cursor ("": from the oldest change kept), in feed order: each partner's
// in revision order, so each endpoint's in the order they happened. Each
// change's Cursor resumes after it. It returns sb.ErrChangesPruned when the
// change after the cursor was pruned.
func (db *DB) OperatorChanges(ctx context.Context, cursor string, limit int) ([]sb.EndpointChange, error) {
	var after int64
	if cursor != "" {
		var err error
		if after, err = parseCursor(cursor); err != nil {
			return nil, err
		}
	}
	var changes []sb.EndpointChange
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		changes = nil
		var current int64
		if err := tx.QueryRowContext(ctx, selectFeedPosition).Scan(&current); err != nil {
			return err
		}
		from := after
		if cursor == "" {
			var oldest sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT min(position) FROM endpoint_changes`).Scan(&oldest); err != nil {
				return err
			}
			from = current
			if oldest.Valid {
				from = oldest.Int64 - 1
			}
		}
		if from > current {
			return ErrBadCursor
		}
		if from == current {
			return nil
		}
		var err error
		if changes, err = db.scanChanges(tx.QueryContext(ctx, db.q(selectOperatorChanges), from, limit)); err != nil {
			return err
		}
		// Positions are dense (each transaction takes the next under the
		// global row's lock; one that rolls back gives its back), and only
		// pruning removes changes, oldest first.
		if len(changes) == 0 || changes[0].Cursor != formatCursor(from+1) {
			return sb.ErrChangesPruned
		}
		return nil
	})
	return changes, err
}

// OperatorSnapshot calls fn with every endpoint of every partner (system
// gateways included) in creation order, all read on one snapshot, and
// returns the operators' cursor of that snapshot: the snapshot holds every
// change up to the cursor and none after it. The endpoints are valid only
// during fn; an error of fn ends the read and is returned.
func (db *DB) OperatorSnapshot(ctx context.Context, fn func(*sb.Endpoint) error) (cursor string, err error) {
	began := false
	err = db.readRetrying(ctx, func() error {
		tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var position int64
		if err := tx.QueryRowContext(ctx, selectFeedPosition).Scan(&position); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+endpointColumns+` FROM endpoints e ORDER BY e.id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEndpoint(rows)
			if err != nil {
				return err
			}
			began = true
			if err := fn(e); err != nil {
				return &callerError{err}
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		cursor = formatCursor(position)
		return tx.Commit()
	})
	var ce *callerError
	if errors.As(err, &ce) {
		return "", ce.err
	}
	if err != nil && began {
		// Endpoints were handed out: a retry would hand them out again.
		return "", err
	}
	return cursor, err
}

// callerError wraps an error of a caller's function so that it is neither
// retried nor taken for the database's.
type callerError struct{ err error }

func (e *callerError) Error() string { return e.err.Error() }

func (db *DB) scanChanges(rows *sql.Rows, err error) ([]sb.EndpointChange, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sb.EndpointChange
	for rows.Next() {
		var c sb.EndpointChange
		var position, micros int64
		var doc string
		if err := rows.Scan(&position, &c.PartnerSID, &c.Revision, &c.Operation, &c.EndpointSID, &micros, &doc); err != nil {
			return nil, err
		}
		c.Endpoint = new(sb.Endpoint)
		if err := json.Unmarshal([]byte(doc), c.Endpoint); err != nil {
			return nil, fmt.Errorf("change %d: %w", position, err)
		}
		c.OccurredAt = time.UnixMicro(micros).UTC()
		c.Cursor = formatCursor(position)
		out = append(out, c)
	}
	return out, rows.Err()
}

// EndpointAt returns the endpoint and the partner's current revision, read
// in one statement (one snapshot): the endpoint holds every change of the
// partner up to that revision and none after.
func (db *DB) EndpointAt(ctx context.Context, partnerSID, endpointSID string) (*sb.Endpoint, int64, error) {
	var e *sb.Endpoint
	var rev int64
	err := db.readRetrying(ctx, func() (err error) {
		e, err = scanEndpoint(withExtra{db.readRow(ctx, selectEndpointAt, partnerSID, partnerSID, endpointSID), []any{&rev}})
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, sb.NotFound(endpointSID)
	}
	return e, rev, err
}

var selectEndpointAt = `SELECT ` + endpointColumns + `, COALESCE((SELECT revision FROM partner_revisions WHERE partner_sid = ?), 0) FROM endpoints e WHERE e.partner_sid = ? AND e.endpoint_sid = ?`

// withExtra scans a row's columns past an endpoint's into extra.
type withExtra struct {
	row   rowScanner
	extra []any
}

func (w withExtra) Scan(dest ...any) error { return w.row.Scan(append(dest, w.extra...)...) }

// PruneChanges deletes up to batch of the oldest changes recorded before
// cutoff and returns how many it deleted. It deletes only a prefix of the
// feed (it stops at the first change not due), so what is kept never has a
// hole, and a follower's next change is either kept or known pruned.
func (db *DB) PruneChanges(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	deleted := 0
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		deleted = 0
		rows, err := tx.QueryContext(ctx, db.q(`SELECT position, occurred_at FROM endpoint_changes ORDER BY position LIMIT ?`), batch)
		if err != nil {
			return err
		}
		var last int64
		due := 0
		for rows.Next() {
			var position, micros int64
			if err := rows.Scan(&position, &micros); err != nil {
				rows.Close()
				return err
			}
			if micros >= cutoff.UnixMicro() {
				break
			}
			last = position
			due++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if due == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM endpoint_changes WHERE position <= ?`), last); err != nil {
			return err
		}
		deleted = due
		return nil
	})
	return deleted, err
}
