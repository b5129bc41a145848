package switchboard

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scope is a permission carried by a credential (§1).
type Scope string

const (
	ScopeManage             Scope = "endpoints.manage"
	ScopeCreate             Scope = "endpoints.create"
	ScopeRead               Scope = "endpoints.read"
	ScopeUpdate             Scope = "endpoints.update"
	ScopeDelete             Scope = "endpoints.delete"
	ScopeManageAuthRequired Scope = "endpoints.manage_auth_required"
)

// AllScopes are the scopes this resource knows, manage first.
var AllScopes = []Scope{ScopeManage, ScopeCreate, ScopeRead, ScopeUpdate, ScopeDelete, ScopeManageAuthRequired}

// Scopes is a set of scopes as granted to a partner or a token.
type Scopes []Scope

// ParseScopes reads a comma-separated list, refusing unknown names.
func ParseScopes(list string) (Scopes, error) {
	var out Scopes
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(AllScopes, Scope(s)) {
			return nil, fmt.Errorf("unknown scope %q (known: %s)", s, Scopes(AllScopes))
		}
		if !slices.Contains(out, Scope(s)) {
			out = append(out, Scope(s))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scopes given")
	}
	return out, nil
}

func (s Scopes) String() string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = string(v)
	}
	return strings.Join(parts, ",")
}

// Has reports whether the set holds scope itself.
func (s Scopes) Has(scope Scope) bool { return slices.Contains(s, scope) }

// Allows reports whether the set permits what scope permits: endpoints.manage
// covers every operation scope, but never endpoints.manage_auth_required.
func (s Scopes) Allows(scope Scope) bool {
	return s.Has(scope) || (scope != ScopeManageAuthRequired && s.Has(ScopeManage))
}

// Covers reports whether every scope of other is allowed by s; a token may
// never carry more than its partner.
func (s Scopes) Covers(other Scopes) bool {
	for _, o := range other {
		if !s.Allows(o) {
			return false
		}
	}
	return true
}

// Operation is one of the resource's operations with the scope it needs
// besides endpoints.manage.
type Operation struct {
	Name  string
	Scope Scope
}

var (
	OpCreate = Operation{"create", ScopeCreate}
	OpRead   = Operation{"read", ScopeRead}
	OpUpdate = Operation{"update", ScopeUpdate}
	OpDelete = Operation{"delete", ScopeDelete}
)

// Partner is a tenant: it owns endpoints and credentials.
type Partner struct {
	PartnerSID string
	Name       string
	Login      string // "" when the partner has no Basic credentials
	Scopes     Scopes
	DisabledAt time.Time // zero while its credentials work
}

// Caller is the authenticated partner of a request with the scopes of the
// credential it used.
type Caller struct {
	PartnerSID  string
	PartnerName string
	Scopes      Scopes
}

// Authorize returns a 403 naming the scopes that would allow op, or nil.
func (c Caller) Authorize(op Operation) error {
	if c.Scopes.Allows(op.Scope) {
		return nil
	}
	return Forbidden(fmt.Sprintf("the %s operation requires one of the scopes %s, %s", op.Name, ScopeManage, op.Scope))
}
