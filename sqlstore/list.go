package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	sb "switchboard"
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

func (db *DB) ListEndpoints(ctx context.Context, partnerSID string, q sb.ListQuery) (*sb.EndpointPage, error) {
	var page *sb.EndpointPage
	err := db.readRetrying(ctx, func() (err error) {
		page, err = db.listEndpoints(ctx, partnerSID, q)
		return err
	})
	return page, err
}

func (db *DB) listEndpoints(ctx context.Context, partnerSID string, q sb.ListQuery) (*sb.EndpointPage, error) {
	for _, k := range q.Order {
		if _, ok := orderExpressions[k.Field]; !ok {
			return nil, sb.BadRequest("order", "cannot order by "+k.Field)
		}
	}
	where := []string{"e.partner_sid = ?"}
	args := []any{partnerSID}
	if q.Filter != nil {
		cond, fargs := q.Filter.SQL(db.dialect.filterDialect())
		where = append(where, "("+cond+")")
		args = append(args, fargs...)
	}
	countQuery := `SELECT count(*) FROM endpoints e WHERE ` + strings.Join(where, " AND ")

	keys := sortKeys(q.Order)
	cursor, backwards := q.After, false
	if q.Before != "" {
		cursor, backwards = q.Before, true
	}
	limit, offset := q.Limit, q.Offset
	cursorQuery := ""
	if cursor != "" {
		cursorQuery = cursorValuesQuery(keys)
		where = append(where, keysetCondition(keys, backwards))
		limit, offset = q.Limit+1, 0 // one more tells whether more lie beyond
	}
	var orderBy []string
	if q.Shuffle {
		orderBy = []string{db.dialect.random()}
	} else {
		for _, k := range keys {
			orderBy = append(orderBy, k.expr+direction(k.desc != backwards))
		}
	}
	pageQuery := `SELECT ` + endpointColumns + ` FROM endpoints e WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY ` + strings.Join(orderBy, ", ") + ` LIMIT ? OFFSET ?`
	// Prepared before the transaction takes a connection (statements.go).
	countStmt, pageStmt := db.lists.get(ctx, countQuery), db.lists.get(ctx, pageQuery)
	var cursorStmt *sql.Stmt
	if cursor != "" {
		cursorStmt = db.lists.get(ctx, cursorQuery)
	}

	// One read transaction, so that the total and the page agree.
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	page := &sb.EndpointPage{Items: []*sb.Endpoint{}}
	if err := db.txRow(ctx, tx, countStmt, countQuery, args...).Scan(&page.Total); err != nil {
		return nil, err
	}
	if cursor != "" {
		values, err := db.cursorValues(ctx, tx, cursorStmt, cursorQuery, partnerSID, cursor, len(keys), backwards)
		if err != nil {
			return nil, err
		}
		args = append(args, keysetArgs(values)...)
	}
	rows, err := db.txQuery(ctx, tx, pageStmt, pageQuery, append(args, limit, offset)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		page.Items = append(page.Items, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if cursor != "" {
		if page.HasMore = len(page.Items) > q.Limit; page.HasMore {
			page.Items = page.Items[:q.Limit]
		}
		if backwards {
			slices.Reverse(page.Items)
		}
	} else {
		page.HasMore = q.Offset+len(page.Items) < page.Total
	}
	return page, nil
}

func direction(desc bool) string {
	if desc {
		return " DESC"
	}
	return " ASC"
}

// cursorValuesQuery reads the sort keys of the cursor endpoint.
func cursorValuesQuery(keys []sortKey) string {
	exprs := make([]string, len(keys))
	for i, k := range keys {
		exprs[i] = k.expr
	}
	return `SELECT ` + strings.Join(exprs, ", ") + ` FROM endpoints e WHERE e.partner_sid = ? AND e.endpoint_sid = ?`
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
