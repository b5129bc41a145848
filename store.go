package switchboard

import (
	"context"
	"errors"

	"switchboard/filter"
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
	ListEndpoints(ctx context.Context, partnerSID string, q ListQuery) (*EndpointPage, error)
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
)

// CreateEndpoint stores e, generating a new login while the one it has is
// taken (hosted endpoints' logins are unique across the server).
func CreateEndpoint(ctx context.Context, s Store, e *Endpoint) error {
	for attempt := 1; ; attempt++ {
		err := s.CreateEndpoint(ctx, e)
		if !errors.Is(err, ErrLoginTaken) || attempt > 6 {
			return err
		}
		e.Properties["login"] = ptr(NewLogin(e.Name, attempt))
	}
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
}

// OrderKey is one key of a list's order.
type OrderKey struct {
	Field string
	Desc  bool
}

// EndpointPage is one page of a list.
type EndpointPage struct {
	Items   []*Endpoint
	Total   int  // every endpoint the filter selects
	HasMore bool // more items lie further in the direction of travel
}
