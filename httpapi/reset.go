package httpapi

import (
	"net/http"

	sb "github.com/switchboard-sip/switchboard"
)

// resetPath is served only when Server.Reset is set (serve --allow-reset).
const resetPath = "/core/v2/reset"

// resetResult is the answer of POST /core/v2/reset, keys in alphabetical
// order.
type resetResult struct {
	EndpointsCreated int    `json:"endpoints_created"`
	EndpointsDeleted int    `json:"endpoints_deleted"`
	PartnerSID       string `json:"partner_sid"`
}

// reset puts the caller's own partner back to its known state. It changes
// every endpoint of the partner, so it takes endpoints.manage itself, not
// one operation's scope.
func (s *Server) reset(w http.ResponseWriter, r *http.Request, c sb.Caller) error {
	if !c.Scopes.Has(sb.ScopeManage) {
		return sb.Forbidden("the reset operation requires the scope " + string(sb.ScopeManage))
	}
	created, deleted, err := s.Reset(r.Context(), c.PartnerSID, s.baseURL(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resetResult{EndpointsCreated: created, EndpointsDeleted: deleted, PartnerSID: c.PartnerSID})
	return nil
}
