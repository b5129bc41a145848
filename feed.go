package switchboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"
)

// The operations a change records.
const (
	ChangeCreated = "created"
	ChangeUpdated = "updated"
	ChangeDeleted = "deleted"
)

// EndpointChange is one committed create, update or delete of an endpoint
// (extensions.md §1). Its JSON is the change object of the API; Cursor and
// PartnerSID are written only when set (the operators' feed).
type EndpointChange struct {
	// Cursor is the operators' feed position of the change (opaque); empty
	// in a partner's feed.
	Cursor string
	// Endpoint is the endpoint after the change; for a delete, its last
	// state.
	Endpoint    *Endpoint
	EndpointSID string
	// OccurredAt is when the change was recorded, at the end of its
	// transaction.
	OccurredAt time.Time
	Operation  string // ChangeCreated, ChangeUpdated or ChangeDeleted
	PartnerSID string
	// Revision is the change's number among its partner's changes: 1, 2, 3,
	// ... in the order they became visible.
	Revision int64
}

// changeJSON is EndpointChange as the API writes it: keys in alphabetical
// order, occurred_at in RFC 3339 UTC with milliseconds.
type changeJSON struct {
	Cursor      string    `json:"cursor,omitempty"`
	Endpoint    *Endpoint `json:"endpoint"`
	EndpointSID string    `json:"endpoint_sid"`
	OccurredAt  string    `json:"occurred_at"`
	Operation   string    `json:"operation"`
	PartnerSID  string    `json:"partner_sid,omitempty"`
	Revision    int64     `json:"revision"`
}

// OccurredAtLayout is how occurred_at is written.
const OccurredAtLayout = "2006-01-02T15:04:05.000Z07:00"

func (c EndpointChange) MarshalJSON() ([]byte, error) {
	// Not HTML-escaped, like the API's answers (an encoder escaping HTML
	// still escapes this).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(changeJSON{
		Cursor: c.Cursor, Endpoint: c.Endpoint, EndpointSID: c.EndpointSID,
		OccurredAt: c.OccurredAt.UTC().Format(OccurredAtLayout), Operation: c.Operation,
		PartnerSID: c.PartnerSID, Revision: c.Revision,
	})
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}

func (c *EndpointChange) UnmarshalJSON(data []byte) error {
	var v changeJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	at, err := time.Parse(time.RFC3339Nano, v.OccurredAt)
	if err != nil {
		return err
	}
	*c = EndpointChange{Cursor: v.Cursor, Endpoint: v.Endpoint, EndpointSID: v.EndpointSID, OccurredAt: at,
		Operation: v.Operation, PartnerSID: v.PartnerSID, Revision: v.Revision}
	return nil
}

// ErrChangesPruned: a change after the revision or cursor asked from was
// pruned, so the feed cannot continue from there; read the state whole
// again and follow from its revision or cursor.
var ErrChangesPruned = errors.New("changes after that point were pruned")

// GoneMessage is what a follower whose next change was pruned is told.
const GoneMessage = "changes after this revision were pruned; list the endpoints again and follow from the list's Switchboard-Revision"

// ChangesGone is the 410 error of a partner's feed whose next change was
// pruned.
func ChangesGone() error {
	return &Error{Kind: KindGone, Errors: []FieldError{{Field: "since", Message: GoneMessage}}}
}
