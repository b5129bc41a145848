package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/filter"
)

// orderExpressions maps each orderable field of the domain's table to the
// SQL it orders by. Nullable fields order as their lowest value so that
// every key is a total, NULL-free order that keyset cursors can compare
// (nulls come first in ascending order).
var orderExpressions = func() map[string]string {
	out := map[string]string{}
	for _, f := range sb.Fields() {
		if !f.Orderable {
			continue
		}
		expr := "e." + f.Name
		switch {
		case f.Nullable && f.Kind == sb.FieldText:
			expr = "COALESCE(" + expr + ", '')"
		case f.Nullable && f.Kind == sb.FieldInteger:
			expr = "COALESCE(" + expr + ", -1)"
		case f.Nullable:
			panic("sqlstore: no lowest value to order the nullable field " + f.Name + " by")
		}
		out[f.Name] = expr
	}
	return out
}()

// sortKey is one ORDER BY term; the last one of every order is e.id, the
// creation order, which makes the order total (§11.4).
type sortKey struct {
	expr string
	desc bool
}

func sortKeys(order []sb.OrderKey) []sortKey {
	keys := make([]sortKey, 0, len(order)+1)
	for _, k := range order {
		keys = append(keys, sortKey{orderExpressions[k.Field], k.Desc})
	}
	return append(keys, sortKey{"e.id", false})
}

func (db *DB) ListEndpoints(ctx context.Context, partnerSID string, q sb.ListQuery, write func(sb.PageInfo, iter.Seq2[*sb.Endpoint, error]) error) error {
	// The statements have a deadline until the answer begins (deadline.go).
	bounded, deadline := db.startList(ctx)
	defer deadline.end()
	// A read whose connection was lost is repeated, but only until the
	// answer began: a page half written cannot be taken back.
	began := false
	var final error
	err := db.readRetrying(bounded, func() error {
		err := db.listEndpoints(bounded, partnerSID, q, deadline.begin, func(info sb.PageInfo, items iter.Seq2[*sb.Endpoint, error]) error {
			began = true
			return write(info, items)
		})
		if began {
			final = err
			return nil
		}
		return err
	})
	if began {
		err = final
	}
	if err != nil && deadline.timedOut(ctx) {
		return sb.ErrStatementTimeout
	}
	return err
}

func (db *DB) listEndpoints(ctx context.Context, partnerSID string, q sb.ListQuery, begin func() bool, write func(sb.PageInfo, iter.Seq2[*sb.Endpoint, error]) error) error {
	for _, k := range q.Order {
		if _, ok := orderExpressions[k.Field]; !ok {
			return sb.BadRequest("order", "cannot order by "+k.Field)
		}
	}
	where, args, set := db.listWhere(partnerSID, q.Filter)
	countQuery, countArgs := listCount(partnerSID, q.Filter, where, args, set)

	// The page is read in list order, one row at a time, so its figures
	// (count and has_more precede the items in the answer) are known first:
	// from the total for an offset page; for a cursor page from a probe that
	// reads the sort keys of up to limit+1 rows beyond the cursor. Walking
	// backwards, the probe also finds the row beyond the page, after which
	// the page starts.
	keys := sortKeys(q.Order)
	cursor, backwards := q.After, false
	if q.Before != "" {
		cursor, backwards = q.Before, true
	}
	pageWhere := where
	var cursorQuery, probeQuery, beyondQuery string
	if cursor != "" {
		cursorQuery = cursorValuesQuery(keys)
		pageWhere = append(slices.Clip(where), keysetCondition(keys, backwards))
		probeQuery = `SELECT ` + keyExpressions(keys) + ` FROM endpoints e WHERE ` + strings.Join(pageWhere, " AND ") +
			` ORDER BY ` + orderBy(keys, backwards) + ` LIMIT ?`
	}
	order := orderBy(keys, false)
	if q.Shuffle {
		order = db.dialect.random()
	}
	// With Held, a page in id order (which heldRows needs to stream the
	// rest) reads the keys only, and the endpoints the caller does not hold
	// are read by id after it; other orders read every endpoint whole.
	if len(q.Order) > 0 || q.Shuffle {
		q.Held = nil
	}
	cols := endpointColumns
	if q.Held != nil {
		cols = pageKeyColumns
	}
	pageQuery, pageArgs := listPage(partnerSID, cols, pageWhere, order, args, set, cursor == "" && len(q.Order) == 0 && !q.Shuffle)
	if backwards {
		beyondQuery = `SELECT ` + cols + ` FROM endpoints e WHERE ` +
			strings.Join(append(slices.Clip(pageWhere), keysetCondition(keys, false)), " AND ") +
			` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
	}
	// Prepared before the transaction takes a connection (statements.go).
	countStmt, pageStmt := db.lists.get(ctx, countQuery), db.lists.get(ctx, pageQuery)
	var cursorStmt, probeStmt, beyondStmt *sql.Stmt
	if cursor != "" {
		cursorStmt, probeStmt = db.lists.get(ctx, cursorQuery), db.lists.get(ctx, probeQuery)
	}
	if backwards {
		beyondStmt = db.lists.get(ctx, beyondQuery)
	}
	var held *heldRead
	if q.Held != nil {
		held = &heldRead{query: selectEndpointsByID(db.dialect), partnerSID: partnerSID}
		held.stmt = db.lists.get(ctx, held.query)
	}

	// One read transaction on one snapshot (repeatable read: PostgreSQL's
	// default would give each statement its own), so that the figures and
	// the items agree.
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return err
	}
	defer tx.Rollback()

	// The count reads the partner's revision on the same snapshot too (the
	// change feed's starting point), in the same statement.
	var info sb.PageInfo
	if err := db.txRow(ctx, tx, countStmt, countQuery, countArgs...).Scan(&info.Total, &info.Revision); err != nil {
		return err
	}
	query, st, offset := pageQuery, pageStmt, q.Offset
	if cursor != "" {
		values, err := db.cursorValues(ctx, tx, cursorStmt, cursorQuery, partnerSID, cursor, len(keys), backwards)
		if err != nil {
			return err
		}
		pageArgs = slices.Concat(args, keysetArgs(values))
		n, beyond, err := db.probe(ctx, tx, probeStmt, probeQuery, slices.Concat(pageArgs, []any{q.Limit + 1}), len(keys))
		if err != nil {
			return err
		}
		info.Count, info.HasMore, offset = min(n, q.Limit), n > q.Limit, 0
		if backwards && info.HasMore {
			query, st, pageArgs = beyondQuery, beyondStmt, slices.Concat(pageArgs, keysetArgs(beyond))
		}
	} else {
		info.Count = max(0, min(q.Limit, info.Total-q.Offset))
		info.HasMore = q.Offset+info.Count < info.Total
	}
	var rows *sql.Rows
	if info.Count > 0 {
		rows, err = db.txQuery(ctx, tx, st, query, slices.Concat(pageArgs, []any{info.Count, offset})...)
		if err != nil {
			return err
		}
		defer rows.Close()
	}
	if held != nil {
		held.holds = func(sid string) bool { return q.Held(sid, info.Revision) }
		return write(info, db.heldRows(ctx, tx, rows, info.Count, begin, held))
	}
	return write(info, endpointRows(rows, info.Count, begin))
}

// listWhere is the WHERE of a list: the partner's endpoints that f (nil:
// none) selects, every subquery scoped to the partner too; and f's idSet
// when it is one.
func (db *DB) listWhere(partnerSID string, f *filter.Expr) ([]string, []any, *idSet) {
	where := []string{"e.partner_sid = ?"}
	args := []any{partnerSID}
	var set *idSet
	if f != nil {
		var cond string
		var fargs []any
		cond, fargs, set = filterSQL(f, db.dialect.filterFlavour(), partnerSID)
		where = append(where, "("+cond+")")
		args = append(args, fargs...)
	}
	if set != nil {
		// SQLite then finds the endpoints by id, from the set's ids in
		// order (so a page in id order stops at its limit, unsorted),
		// rather than through the (partner_sid, id) index, one look-up
		// per id, and sorting them all. The set is scoped already; the
		// partner's condition stays as a check.
		where[0] = db.dialect.rowPartner() + " = ?"
	}
	return where, args, set
}

// listCount is the query that counts a list's endpoints and reads the
// partner's revision, and its arguments.
func listCount(partnerSID string, f *filter.Expr, where []string, args []any, set *idSet) (string, []any) {
	switch {
	case f == nil:
		return selectEndpointCount, slices.Concat([]any{partnerSID}, args) // kept in the write transactions (counts.go)
	case set != nil:
		return countSetQuery(set), slices.Concat([]any{partnerSID}, set.args)
	}
	return countQuery(where), slices.Concat([]any{partnerSID}, args)
}

// countQuery counts a list's endpoints and reads the partner's revision;
// its first argument is the partner, then the WHERE's.
func countQuery(where []string) string {
	return `SELECT count(*), ` + partnerRevision + ` FROM endpoints e WHERE ` + strings.Join(where, " AND ")
}

// countSetQuery counts an idSet's endpoints (from its kept counts, or its
// rows, when they hold each once) and reads the partner's revision; its first argument is the
// partner, then the set's.
func countSetQuery(set *idSet) string {
	if set.counted != "" {
		return `SELECT CAST(COALESCE(sum(a.endpoints), 0) AS BIGINT), ` + partnerRevision + ` FROM ` + set.counted
	}
	n := "count(*)"
	if !set.distinct {
		n = "count(DISTINCT a.endpoint_id)"
	}
	return `SELECT ` + n + `, ` + partnerRevision + ` FROM ` + set.from
}

// listPage is the query that reads a page's endpoints and its arguments
// before the limit and the offset. An offset page in id order (idOrder)
// of an idSet takes its ids from the set's index, in order: it reads
// those, not every id of the set.
func listPage(partnerSID, cols string, where []string, order string, args []any, set *idSet, idOrder bool) (string, []any) {
	if set != nil && idOrder {
		return setPageQuery(cols, where[0], set), slices.Concat([]any{partnerSID}, set.args)
	}
	return pageQuery(cols, where, order), args
}

// setPageQuery reads a page of an idSet's endpoints in id order; its
// arguments are the partner (whose condition, partnerCond, is listWhere's:
// on SQLite a check, so that each id is one primary-key look-up, not one
// in the (partner_sid, id) index and then the row), the set's, the limit
// and the offset.
func setPageQuery(cols, partnerCond string, set *idSet) string {
	distinct := ""
	if !set.distinct {
		distinct = "DISTINCT "
	}
	return `SELECT ` + cols + ` FROM endpoints e WHERE ` + partnerCond + ` AND e.id IN (SELECT ` + distinct + `a.endpoint_id FROM ` +
		set.from + ` ORDER BY a.endpoint_id LIMIT ? OFFSET ?) ORDER BY e.id`
}

// pageQuery reads a page's endpoints; its last arguments are the limit and
// the offset.
func pageQuery(cols string, where []string, order string) string {
	return `SELECT ` + cols + ` FROM endpoints e WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
}

// pageKeyColumns are what a page query reads with Held: each endpoint's id
// and SID.
const pageKeyColumns = "e.id, e.endpoint_sid"

// heldRead is how a list with Held reads the endpoints the caller does not
// hold: the statement (prepared before the transaction) and the question.
type heldRead struct {
	query      string
	stmt       *sql.Stmt
	partnerSID string
	holds      func(sid string) bool
}

// selectEndpointsByID reads the partner's endpoints of a list of ids, in
// id order; its arguments are the ids (idsArg) and the partner. The ids
// come from the page's scoped query; the partner's condition keeps this
// one scoped by itself too.
func selectEndpointsByID(d dialect) string {
	return `SELECT ` + endpointColumns + ` FROM endpoints e WHERE ` + d.idIn() + ` AND ` + d.rowPartner() + ` = ? ORDER BY e.id`
}

// heldRows yields the page's endpoints from the keys that rows (of
// pageKeyColumns, in id order) hold: the SID alone for each endpoint the
// caller holds, the others read whole by id after the keys, in one
// statement in id order on the page's snapshot (tx), and yielded as they
// are scanned, one at a time. As endpointRows, it reports a short page as
// an error and calls begin once before the first item or the end.
func (db *DB) heldRows(ctx context.Context, tx *sql.Tx, rows *sql.Rows, count int, begin func() bool, h *heldRead) iter.Seq2[*sb.Endpoint, error] {
	return func(yield func(*sb.Endpoint, error) bool) {
		type key struct {
			id   int64
			sid  string
			held bool
		}
		page := make([]key, 0, count)
		var missing []int64
		if rows != nil {
			for rows.Next() {
				var k key
				if err := rows.Scan(&k.id, &k.sid); err != nil {
					yield(nil, err)
					return
				}
				if k.held = h.holds(k.sid); !k.held {
					missing = append(missing, k.id)
				}
				page = append(page, k)
			}
			if err := rows.Err(); err != nil {
				yield(nil, err)
				return
			}
			rows.Close() // the connection is the transaction's, for the next statement
		}
		if len(page) != count {
			yield(nil, fmt.Errorf("list page: %d of its %d items read", len(page), count))
			return
		}
		var full *sql.Rows
		if len(missing) > 0 {
			var err error
			if full, err = db.txQuery(ctx, tx, h.stmt, h.query, db.dialect.idsArg(missing), h.partnerSID); err != nil {
				yield(nil, err)
				return
			}
			defer full.Close()
		}
		if !begin() {
			yield(nil, sb.ErrStatementTimeout)
			return
		}
		for _, k := range page {
			e := &sb.Endpoint{EndpointSID: k.sid}
			if !k.held {
				if !full.Next() {
					yield(nil, cmp.Or(full.Err(), fmt.Errorf("list page: endpoint %d not read", k.id)))
					return
				}
				var err error
				if e, err = scanEndpoint(full); err == nil && e.ID != k.id {
					err = fmt.Errorf("list page: endpoint %d read for %d", e.ID, k.id)
				}
				if err != nil {
					yield(nil, err)
					return
				}
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// endpointRows yields the page's endpoints as they are scanned. A page
// shorter than its count (which the one snapshot rules out) is an error,
// never a short answer. begin is called before the first item (or, for an
// empty page, before the end) and reports whether the list is still within
// its deadline.
func endpointRows(rows *sql.Rows, count int, begin func() bool) iter.Seq2[*sb.Endpoint, error] {
	return func(yield func(*sb.Endpoint, error) bool) {
		n := 0
		if rows != nil {
			for rows.Next() {
				e, err := scanEndpoint(rows)
				if err != nil {
					yield(nil, err)
					return
				}
				if n == 0 && !begin() {
					yield(nil, sb.ErrStatementTimeout)
					return
				}
				n++
				if !yield(e, nil) {
					return
				}
			}
			if err := rows.Err(); err != nil {
				yield(nil, err)
				return
			}
		}
		if n == 0 && !begin() {
			yield(nil, sb.ErrStatementTimeout)
			return
		}
		if n != count {
			yield(nil, fmt.Errorf("list page: %d of its %d items read", n, count))
		}
	}
}

// probe counts the rows of a cursor page's probe (at most limit+1) and
// returns the sort keys of the last one.
func (db *DB) probe(ctx context.Context, tx *sql.Tx, st *sql.Stmt, query string, args []any, n int) (int, []any, error) {
	rows, err := db.txQuery(ctx, tx, st, query, args...)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	values := make([]any, n)
	ptrs := make([]any, n)
	for i := range values {
		ptrs[i] = &values[i]
	}
	count := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, nil, err
		}
		count++
	}
	return count, values, rows.Err()
}

// orderBy is the ORDER BY list of keys, reversed when walking backwards.
func orderBy(keys []sortKey, backwards bool) string {
	terms := make([]string, len(keys))
	for i, k := range keys {
		terms[i] = k.expr + direction(k.desc != backwards)
	}
	return strings.Join(terms, ", ")
}

func direction(desc bool) string {
	if desc {
		return " DESC"
	}
	return " ASC"
}

// cursorValuesQuery reads the sort keys of the cursor endpoint.
func cursorValuesQuery(keys []sortKey) string {
	return `SELECT ` + keyExpressions(keys) + ` FROM endpoints e WHERE e.partner_sid = ? AND e.endpoint_sid = ?`
}

func keyExpressions(keys []sortKey) string {
	exprs := make([]string, len(keys))
	for i, k := range keys {
		exprs[i] = k.expr
	}
	return strings.Join(exprs, ", ")
}

func (db *DB) cursorValues(ctx context.Context, tx *sql.Tx, st *sql.Stmt, query, partnerSID, cursor string, n int, backwards bool) ([]any, error) {
	values := make([]any, n)
	ptrs := make([]any, n)
	for i := range values {
		ptrs[i] = &values[i]
	}
	err := db.txRow(ctx, tx, st, query, partnerSID, cursor).Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		field := "after"
		if backwards {
			field = "before"
		}
		return nil, sb.BadRequest(field, field+" names no endpoint of this list")
	}
	return values, err
}

// keysetCondition is the SQL condition for "after (or before) the cursor
// endpoint in this order": a lexicographic comparison of the sort keys with
// the cursor's values, so any depth costs an index seek, not an OFFSET scan.
//
//	(k1 > v1) OR (k1 = v1 AND k2 > v2) OR ...
//
// with < for descending keys (and everything mirrored when walking
// backwards). keysetArgs gives its arguments in order.
func keysetCondition(keys []sortKey, backwards bool) string {
	var terms []string
	for i, k := range keys {
		var parts []string
		for j := 0; j < i; j++ {
			parts = append(parts, keys[j].expr+" = ?")
		}
		op := " > ?"
		if k.desc != backwards {
			op = " < ?"
		}
		parts = append(parts, k.expr+op)
		terms = append(terms, "("+strings.Join(parts, " AND ")+")")
	}
	return "(" + strings.Join(terms, " OR ") + ")"
}

func keysetArgs(values []any) []any {
	var args []any
	for i := range values {
		args = append(args, values[:i+1]...)
	}
	return args
}
