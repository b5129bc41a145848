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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

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
	// previous is an update's endpoint before it (whose attribute values
	// the kept counts take away).
	previous *sb.Endpoint
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

	partnerRevision       = `COALESCE((SELECT revision FROM partner_revisions WHERE partner_sid = ?), 0)`
	selectPartnerRevision = `SELECT ` + partnerRevision
	selectFeedPosition    = `SELECT position FROM change_feed_position WHERE id = 1`
	changeColumns         = `position, partner_sid, revision, operation, endpoint_sid, occurred_at, endpoint`
	selectPartnerChanges  = `SELECT ` + changeColumns + ` FROM endpoint_changes WHERE partner_sid = ? AND revision > ? ORDER BY revision LIMIT ?`
	// The partner's changes with its current revision, in one statement
	// (one snapshot, and one round trip: a follower's read after a wake).
	selectPartnerChangesAt = `SELECT ` + changeColumns + `, (SELECT revision FROM partner_revisions WHERE partner_sid = ?) AS partner_revision FROM endpoint_changes WHERE partner_sid = ? AND revision > ? ORDER BY revision LIMIT ?`
	selectOperatorChanges  = `SELECT ` + changeColumns + ` FROM endpoint_changes WHERE position > ? ORDER BY position LIMIT ?`
)

// insertChangesSQLite[i] inserts changeChunksSQLite[i] change rows: a
// batch's rows go in a few statements rather than one each (each statement
// costs the writer about as much as a small row).
var changeChunksSQLite = []int{64, 16, 4, 1}

var insertChangesSQLite = func() (out []string) {
	for _, n := range changeChunksSQLite {
		out = append(out, `INSERT INTO endpoint_changes (position, partner_sid, revision, operation, endpoint_sid, occurred_at, endpoint) VALUES `+
			strings.Repeat(`(?, ?, ?, ?, ?, ?, ?), `, n-1)+`(?, ?, ?, ?, ?, ?, ?)`)
	}
	return out
}()

// changeStatements are the feed's write statements, prepared with the
// others (statements.go).
func (db *DB) changeStatements() []string {
	if db.isPostgres() {
		return []string{recordChangePostgres}
	}
	return append([]string{nextPositionSQLite, nextRevisionSQLite}, insertChangesSQLite...)
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
	docs, err := changeDocs(changes)
	if err != nil {
		return err
	}
	if db.isPostgres() {
		if _, err := db.exec(ctx, tx, recordChangePostgres, recordArgsPostgres(changes, docs)...); err != nil {
			return err
		}
		return db.keepCounts(ctx, tx, changes)
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
	now := time.Now().UnixMicro()
	args := make([]any, 0, 7*min(len(changes), changeChunksSQLite[0]))
	for i := 0; i < len(changes); {
		chunk := 0
		for len(changes)-i < changeChunksSQLite[chunk] {
			chunk++
		}
		args = args[:0]
		for _, c := range changes[i : i+changeChunksSQLite[chunk]] {
			e := c.endpoint
			position++
			revision := nextRevision[e.PartnerSID]
			nextRevision[e.PartnerSID]++
			args = append(args, position, e.PartnerSID, revision, c.operation, e.EndpointSID, now, docs[i])
			i++
		}
		if _, err := db.exec(ctx, tx, insertChangesSQLite[chunk], args...); err != nil {
			return err
		}
	}
	return db.keepCounts(ctx, tx, changes)
}

// changeDocs returns the changes' endpoints as JSON.
func changeDocs(changes []pendingChange) ([]string, error) {
	docs := make([]string, len(changes))
	for i, c := range changes {
		doc := c.doc
		if doc == nil {
			var err error
			if doc, err = json.Marshal(c.endpoint); err != nil {
				return nil, err
			}
		}
		docs[i] = string(doc)
	}
	return docs, nil
}

// recordArgsPostgres are recordChangePostgres's arguments: a column each.
func recordArgsPostgres(changes []pendingChange, docs []string) []any {
	partners, operations, sids := make([]string, len(changes)), make([]string, len(changes)), make([]string, len(changes))
	for i, c := range changes {
		partners[i], operations[i], sids[i] = c.endpoint.PartnerSID, c.operation, c.endpoint.EndpointSID
	}
	return []any{partners, operations, sids, docs}
}

// recordAndCommitPostgres ends a group commit batch on PostgreSQL: the
// statements end (the last job's savepoint), the records and COMMIT go in
// one pipeline, so the counter locks the records take are held only while
// PostgreSQL itself records and commits, never across a round trip to this
// process (on a busy machine each round trip waits for both sides to be
// scheduled). The pipeline ends with a BEGIN: database/sql's transaction
// then commits an empty one, and knows nothing of the trick.
func (db *DB) recordAndCommitPostgres(conn *sql.Conn, tx *sql.Tx, end []string, changes []pendingChange) (committed bool, err error) {
	docs, err := changeDocs(changes)
	if err != nil {
		return false, err
	}
	ctx := context.Background()
	err = conn.Raw(func(driverConn any) error {
		pc := driverConn.(*stdlib.Conn).Conn()
		b := &pgx.Batch{}
		for _, st := range end {
			b.Queue(st)
		}
		// The records wait for their turn without a limit (the jobs'
		// lock timeout is for deadlocks between jobs).
		b.Queue(`SET LOCAL lock_timeout = 0`)
		b.Queue(recordChangePostgres, recordArgsPostgres(changes, docs)...)
		statements := len(end) + 3
		if partners, ns := endpointCountDiffs(changes); len(partners) > 0 {
			b.Queue(addEndpointCountsPostgres, partners, ns)
			statements++
		}
		for _, st := range attributeCountDiffs(changes).postgres() {
			b.Queue(st.query, st.args...)
			statements++
		}
		b.Queue(`COMMIT`)
		b.Queue(`BEGIN`)
		results := pc.SendBatch(ctx, b)
		defer results.Close()
		for range statements {
			if _, err := results.Exec(); err != nil {
				return err
			}
		}
		committed = true
		if _, err := results.Exec(); err != nil {
			return err
		}
		return results.Close()
	})
	if committed {
		// The batch is committed whatever becomes of the empty
		// transaction (a lost connection is then database/sql's to drop).
		tx.Commit()
		return true, nil
	}
	return false, err
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
	// First in one statement: when it finds changes, they and the
	// revision are of one snapshot. Finding none (nothing new, since out
	// of range, pruned) the transaction below tells which.
	err = db.readRetrying(ctx, func() error {
		var rows *sql.Rows
		if st := db.lists.get(ctx, selectPartnerChangesAt); st != nil {
			rows, err = st.QueryContext(ctx, partnerSID, partnerSID, since, limit)
		} else {
			rows, err = db.read.QueryContext(ctx, db.q(selectPartnerChangesAt), partnerSID, partnerSID, since, limit)
		}
		changes, err = db.scanChanges(rows, err, &current)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if len(changes) > 0 && changes[0].Revision == since+1 {
		for i := range changes {
			changes[i].Cursor = ""
		}
		return changes, current, nil
	}
	if len(changes) == 0 {
		// Nothing found, most often because nothing is new (a follower
		// about to wait): the revision alone, one statement, tells so.
		// If it moved since, the transaction below reads both again.
		err = db.readRetrying(ctx, func() error {
			return db.readRow(ctx, selectPartnerRevision, partnerSID).Scan(&current)
		})
		if err != nil {
			return nil, 0, err
		}
		if current == since {
			return nil, current, nil
		}
	}
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

// PartnerRevision returns the partner's current revision: from the
// revision memo while nothing has committed since it was read (SQLite
// files), otherwise from the database.
func (db *DB) PartnerRevision(ctx context.Context, partnerSID string) (int64, error) {
	var at walHeader
	if m := db.revisions; m != nil {
		var rev int64
		var ok bool
		if at, rev, ok = m.lookup(partnerSID); ok {
			return rev, nil
		}
		m.asked.Add(1)
	}
	var rev int64
	err := db.readRetrying(ctx, func() error {
		return db.readRow(ctx, selectPartnerRevision, partnerSID).Scan(&rev)
	})
	if err == nil && db.revisions != nil {
		db.revisions.remember(at, partnerSID, rev)
	}
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
	return db.operatorSnapshot(ctx, `SELECT `+endpointColumns+` FROM endpoints e ORDER BY e.id`, scanEndpoint, fn)
}

// OperatorAdmissionSnapshot is OperatorSnapshot reading only what decides
// whether a SIP proxy admits a request (the Kamailio agent's full read): fn
// gets endpoints with EndpointSID, PartnerSID, Type, AuthRequired and, of
// each address, IP, Port, Transport, SIPUsername and SIPPassword; every
// other field is zero. fn gets the same *sb.Endpoint each time (its strings
// are its own and may be kept): a read allocates little per endpoint,
// where decoding whole endpoints costs kilobytes each.
func (db *DB) OperatorAdmissionSnapshot(ctx context.Context, fn func(*sb.Endpoint) error) (cursor string, err error) {
	var s admissionScanner
	return db.operatorSnapshot(ctx, selectAdmission, s.scan, fn)
}

const selectAdmission = `SELECT e.endpoint_sid, e.partner_sid, e.type, e.auth_required, e.addresses FROM endpoints e ORDER BY e.id`

// admissionScanner reads selectAdmission's rows into one endpoint, reusing
// its buffers from row to row.
type admissionScanner struct {
	e            sb.Endpoint
	partner, typ string
	doc          sql.RawBytes
	dest         []any // the row's destinations: built once, a Scan allocates none
	addresses    []admissionAddress
	// interned holds one string per partner SID and type: fn keeps the
	// partner SID, and a snapshot has few of either.
	interned map[string]string
}

// admissionAddress is what is decoded of a stored address: the other
// fields of the document are skipped.
type admissionAddress struct {
	IP          string  `json:"ip"`
	Port        int64   `json:"port"`
	Transport   string  `json:"transport"`
	SIPUsername *string `json:"sip_username"`
	SIPPassword *string `json:"sip_password"`
}

func (s *admissionScanner) scan(r rowScanner) (*sb.Endpoint, error) {
	e := &s.e
	*e = sb.Endpoint{Addresses: e.Addresses[:0]}
	if s.dest == nil {
		s.dest = []any{&e.EndpointSID, &s.partner, &s.typ, &e.AuthRequired, &s.doc}
	}
	if err := r.Scan(s.dest...); err != nil {
		return nil, err
	}
	e.PartnerSID, e.Type = s.intern(s.partner), sb.EndpointType(s.intern(s.typ))
	// encoding/json decodes into the elements a reused slice already has
	// without zeroing them: start from zero values.
	clear(s.addresses[:cap(s.addresses)])
	s.addresses = s.addresses[:0]
	if err := json.Unmarshal(s.doc, &s.addresses); err != nil {
		return nil, fmt.Errorf("endpoint %s: addresses: %w", e.EndpointSID, err)
	}
	for _, a := range s.addresses {
		e.Addresses = append(e.Addresses, sb.Address{IP: a.IP, Port: a.Port, Transport: a.Transport, SIPUsername: a.SIPUsername, SIPPassword: a.SIPPassword})
	}
	return e, nil
}

func (s *admissionScanner) intern(v string) string {
	if w, ok := s.interned[v]; ok {
		return w
	}
	if s.interned == nil {
		s.interned = map[string]string{}
	}
	s.interned[v] = v
	return v
}

// operatorSnapshot reads query's rows with scan and hands them to fn on
// one repeatable-read snapshot with the feed's position (see
// OperatorSnapshot).
func (db *DB) operatorSnapshot(ctx context.Context, query string, scan func(rowScanner) (*sb.Endpoint, error), fn func(*sb.Endpoint) error) (cursor string, err error) {
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
		rows, err := tx.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scan(rows)
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

// scanChanges reads rows of changeColumns, and into extra the columns after
// them (the same in every row).
func (db *DB) scanChanges(rows *sql.Rows, err error, extra ...any) ([]sb.EndpointChange, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sb.EndpointChange
	for rows.Next() {
		var c sb.EndpointChange
		var position, micros int64
		var doc string
		if err := rows.Scan(append([]any{&position, &c.PartnerSID, &c.Revision, &c.Operation, &c.EndpointSID, &micros, &doc}, extra...)...); err != nil {
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

var selectEndpointAt = `SELECT ` + endpointColumns + `, ` + partnerRevision + ` FROM endpoints e WHERE e.partner_sid = ? AND e.endpoint_sid = ?`

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
