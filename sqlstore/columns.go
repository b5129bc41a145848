package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	sb "github.com/switchboard-sip/switchboard"
)

// column is one column of the endpoints table.
type column struct {
	name string
	// value is what an insert writes; nil for id, which the database assigns.
	value func(e *sb.Endpoint) (any, error)
	// dest is where a read value goes; nil for a column never read back.
	dest func(e *sb.Endpoint) any
	// updated: an update rewrites it.
	updated bool
}

// endpointTable is the one list of the endpoints table's columns; the
// SELECT, INSERT and UPDATE statements and scanEndpoint follow it. Besides
// id and login, every stored field of the domain's field table is a column
// of its name.
var endpointTable = endpointColumnsOf(sb.Fields())

func endpointColumnsOf(fields []sb.EndpointField) []column {
	cols := []column{{name: "id", dest: func(e *sb.Endpoint) any { return &e.ID }}}
	for _, f := range fields {
		if f.Related {
			continue
		}
		if dest(f.Ptr(&sb.Endpoint{})) == nil {
			panic("sqlstore: the field " + f.Name + " has a Go type the store cannot hold")
		}
		cols = append(cols, column{
			name:    f.Name,
			value:   func(e *sb.Endpoint) (any, error) { return value(f.Ptr(e)) },
			dest:    func(e *sb.Endpoint) any { return dest(f.Ptr(e)) },
			updated: f.Changeable(),
		})
	}
	// login repeats properties.login in a unique column: the logins of
	// hosted endpoints are unique across the server.
	return append(cols, column{name: "login", value: func(e *sb.Endpoint) (any, error) {
		return nullString(e.Properties.Login()), nil
	}})
}

// value is what is written for the field at p: the scalars as they are,
// the nested objects as JSON documents.
func value(p any) (any, error) {
	switch p := p.(type) {
	case *string:
		return *p, nil
	case **string:
		return toNull(*p), nil
	case *int64:
		return *p, nil
	case **int64:
		return toNullInt(*p), nil
	case *bool:
		return *p, nil
	case *sb.EndpointType:
		return string(*p), nil
	}
	return document(p)
}

// dest is the Scan destination that fills the field at p, or nil for a
// type the store does not know.
func dest(p any) any {
	switch p := p.(type) {
	case *string, *int64, *bool, *sb.EndpointType:
		return p
	case **string:
		return nullText{p}
	case **int64:
		return nullInteger{p}
	case *[]sb.Address, *map[string]string, *sb.Properties, *[]sb.Transformation:
		return jsonDocument{p}
	}
	return nil
}

// document encodes a nested object as stored.
func document(v any) (string, error) {
	data, err := json.Marshal(v)
	return string(data), err
}

type nullText struct{ p **string }

func (n nullText) Scan(src any) error {
	var s sql.NullString
	if err := s.Scan(src); err != nil {
		return err
	}
	*n.p = fromNull(s)
	return nil
}

type nullInteger struct{ p **int64 }

func (n nullInteger) Scan(src any) error {
	var v sql.NullInt64
	if err := v.Scan(src); err != nil {
		return err
	}
	*n.p = nil
	if v.Valid {
		*n.p = &v.Int64
	}
	return nil
}

type jsonDocument struct{ into any }

func (d jsonDocument) Scan(src any) error {
	switch s := src.(type) {
	case string:
		return json.Unmarshal([]byte(s), d.into)
	case []byte:
		return json.Unmarshal(s, d.into)
	}
	return fmt.Errorf("a JSON document column holds %T", src)
}

func fromNull(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

func toNull(s *string) sql.NullString {
	if s == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *s, Valid: true}
}

func toNullInt(n *int64) sql.NullInt64 {
	if n == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *n, Valid: true}
}

type rowScanner interface{ Scan(dest ...any) error }

func scanEndpoint(r rowScanner) (*sb.Endpoint, error) {
	var e sb.Endpoint
	dests := make([]any, 0, len(endpointTable))
	for _, c := range endpointTable {
		if c.dest != nil {
			dests = append(dests, c.dest(&e))
		}
	}
	if err := r.Scan(dests...); err != nil {
		return nil, err
	}
	return &e, nil
}

// endpointValues are the values of the columns keep selects, in order.
func endpointValues(e *sb.Endpoint, keep func(column) bool) ([]any, error) {
	var out []any
	for _, c := range endpointTable {
		if c.value == nil || !keep(c) {
			continue
		}
		v, err := c.value(e)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func insertedColumn(c column) bool { return c.value != nil }
func updatedColumn(c column) bool  { return c.updated }

// The statements on the endpoints table, written from endpointTable.
var (
	endpointColumns = columnList(func(c column) bool { return c.dest != nil }, func(c column) string { return "e." + c.name })
	selectEndpoint  = `SELECT ` + endpointColumns + ` FROM endpoints e WHERE e.partner_sid = ? AND e.endpoint_sid = ?`

	insertEndpointRow = `INSERT INTO endpoints (` + columnList(insertedColumn, columnName) + `) VALUES (` +
		columnList(insertedColumn, func(column) string { return "?" }) + `) RETURNING id`
	updateEndpointRow = `UPDATE endpoints SET ` + columnList(updatedColumn, func(c column) string { return c.name + " = ?" }) + ` WHERE id = ?`
)

func columnName(c column) string { return c.name }

// columnList writes each column keep selects, comma-separated.
func columnList(keep func(column) bool, write func(column) string) string {
	var parts []string
	for _, c := range endpointTable {
		if keep(c) {
			parts = append(parts, write(c))
		}
	}
	return strings.Join(parts, ", ")
}
