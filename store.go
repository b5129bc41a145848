package switchboard

import (
	"context"
	"errors"
	"iter"

	"github.com/switchboard-sip/switchboard/filter"
)

// Store is what the API needs of the persistence: credentials to
// authenticate a request, and a partner's endpoints. Every endpoint method
// takes the caller's partner SID and sees only that partner's endpoints; an
// endpoint of another partner is reported exactly like a missing one. The
// operator's operations (partners, tokens, system gateways) are methods of
// the store itself (sqlstore.DB), which only cmd/switchboard calls.
type Store interface {
	// PartnerByLogin returns the partner with that Basic login and its
	// password hash, or ErrNoCredential when no enabled partner has that
	// login and a password.
	PartnerByLogin(ctx context.Context, login string) (Partner, string, error)
	// TokenCaller returns who a token hash authenticates, or ErrNoCredential
	// when it is unknown or revoked or its partner is disabled.
	TokenCaller(ctx context.Context, tokenHash string) (Caller, error)

	// CreateEndpoint stores a new endpoint and sets its ID. It returns
	// ErrDuplicateIP when it would break the §5 rule and ErrLoginTaken when
	// its generated login is in use.
	CreateEndpoint(ctx context.Context, e *Endpoint) error
	Endpoint(ctx context.Context, partnerSID, endpointSID string) (*Endpoint, error)
	// UpdateEndpoint reads the endpoint, lets change compute its new state and
	// writes it, all in one transaction, so that concurrent updates never
	// lose each other's changes.
	UpdateEndpoint(ctx context.Context, partnerSID, endpointSID string, change func(cur *Endpoint) (*Endpoint, error)) (*Endpoint, error)
	// DeleteEndpoint deletes the endpoint when its CheckDelete allows.
	DeleteEndpoint(ctx context.Context, partnerSID, endpointSID string) error
	// DeleteEndpointIf is DeleteEndpoint that first calls precondition with
	// the endpoint as it is, in the delete's transaction with the endpoint
	// locked; an error of precondition deletes nothing and is returned.
	DeleteEndpointIf(ctx context.Context, partnerSID, endpointSID string, precondition func(cur *Endpoint) error) error
	// CreateEndpointOnce runs a create under an idempotency key: the
	// answer recorded for the key (replayed true), or the outcome of the
	// create, recorded in its transaction. It returns ErrKeyReused and
	// ErrKeyInFlight as errors, and the outcomes Answer does not record.
	CreateEndpointOnce(ctx context.Context, req IdempotentCreate) (ans Answer, replayed bool, err error)
	// ListEndpoints reads one page of the caller's list in one read
	// transaction and calls write once with the page's figures and its
	// items. The items are read from the database while write ranges over
	// them, so a page is never held whole in memory; they are valid only
	// during write. An error of write ends the read and is returned.
	ListEndpoints(ctx context.Context, partnerSID string, q ListQuery, write func(PageInfo, iter.Seq2[*Endpoint, error]) error) error

	// EndpointAt is Endpoint with the partner's change feed revision read
	// on the same snapshot.
	EndpointAt(ctx context.Context, partnerSID, endpointSID string) (*Endpoint, int64, error)
	// PartnerChanges returns up to limit of the partner's changes above
	// revision since, in revision order, and the partner's current
	// revision. ErrChangesPruned: a change above since was pruned; a bad
	// request (field since): since is above the current revision.
	PartnerChanges(ctx context.Context, partnerSID string, since int64, limit int) (changes []EndpointChange, current int64, err error)
	// PartnerRevision returns the partner's current change feed revision
	// (0: no change yet).
	PartnerRevision(ctx context.Context, partnerSID string) (int64, error)
	// EndpointsChangedSince returns the SIDs of the partner's endpoints
	// changed above revision since, up to the revision current it also
	// returns, read on one snapshot; complete is false when it cannot name
	// them all (more than limit changes, or some pruned).
	EndpointsChangedSince(ctx context.Context, partnerSID string, since int64, limit int) (sids []string, current int64, complete bool, err error)
	// ChangeNotify returns a channel closed by the next change committed
	// after the call (by any process on the database).
	ChangeNotify(ctx context.Context) (<-chan struct{}, error)
}

var (
	// ErrNoCredential: the token or login is unknown (or revoked).
	ErrNoCredential = errors.New("no such credential")
	// ErrLoginTaken: a hosted endpoint's generated login is already in use.
	ErrLoginTaken = errors.New("login taken")
	// ErrPartnerExists: a partner with that login already exists.
	ErrPartnerExists = errors.New("a partner with that login already exists")
	// ErrNoPartner: no partner has that SID.
	ErrNoPartner = errors.New("no such partner")
	// ErrStatementTimeout: a read took longer than the store allows
	// (serve --statement-timeout); it was interrupted and changed nothing.
	ErrStatementTimeout = errors.New("the database took longer than the statement timeout")
)

// CreateEndpoint stores e, generating a new login while the one it has is
// taken (hosted endpoints' logins are unique across the server).
func CreateEndpoint(ctx context.Context, s Store, e *Endpoint) error {
	return RetryLogins(e, func(e *Endpoint) error { return s.CreateEndpoint(ctx, e) })
}

// NewSystemGateway is the read-only endpoint through which a partner's
// traffic reaches the operator's gateways (§11.7).
func NewSystemGateway(partnerSID string, addrs []IPPort) *Endpoint {
	e := &Endpoint{
		Addresses:       make([]Address, 0, len(addrs)),
		Attributes:      map[string]string{},
		AuthRequired:    false,
		EndpointSID:     NewSID(),
		Name:            "System Gateway",
		PartnerSID:      partnerSID,
		Properties:      Properties{},
		Transformations: []Transformation{},
		Type:            TypeSystemGateway,
	}
	for _, a := range addrs {
		e.Addresses = append(e.Addresses, Address{Direction: "any", DstPort: 5060, IP: a.IP, Port: a.Port, Transport: "udp"})
	}
	return e
}

// ListQuery is a validated list request (§6).
type ListQuery struct {
	Limit   int
	Offset  int
	Order   []OrderKey // empty: creation order
	Shuffle bool
	After   string // endpoint SID; at most one of After and Before
	Before  string
	Filter  *filter.Expr // nil: every endpoint
	// Held, when set, is asked for each endpoint of the page, by SID, with
	// the page's revision, before the endpoint is read: true says the
	// caller holds the endpoint's state at that revision already, and the
	// item is then only the SID (&Endpoint{EndpointSID: sid}), nothing
	// read. A store may ignore it and yield every endpoint whole.
	Held func(sid string, revision int64) bool
}

// OrderKey is one key of a list's order.
type OrderKey struct {
	Field string
	Desc  bool
}

// PageInfo is what is known of a list's page before its items: a list
// answer writes count and has_more ahead of the items.
type PageInfo struct {
	Count   int  // items on the page
	Total   int  // every endpoint the filter selects
	HasMore bool // more items lie further in the direction of travel
	// Revision is the partner's change feed revision on the page's
	// snapshot: the page holds every change up to it and none after.
	Revision int64
}

// EndpointPage is a page read whole.
type EndpointPage struct {
	PageInfo
	Items []*Endpoint
}

// ListPage reads a page whole, for callers that want it as a slice (tests,
// tools); the API streams its pages instead.
func ListPage(ctx context.Context, s Store, partnerSID string, q ListQuery) (*EndpointPage, error) {
	var page *EndpointPage
	err := s.ListEndpoints(ctx, partnerSID, q, func(info PageInfo, items iter.Seq2[*Endpoint, error]) error {
		page = &EndpointPage{PageInfo: info, Items: make([]*Endpoint, 0, info.Count)}
		for e, err := range items {
			if err != nil {
				return err
			}
			page.Items = append(page.Items, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}
