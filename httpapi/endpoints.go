package httpapi

import (
	"net/http"
	"strconv"

	sb "github.com/switchboard-sip/switchboard"
)

func (s *Server) createEndpoint(w http.ResponseWriter, r *http.Request, c sb.Caller) error {
	if err := c.Authorize(sb.OpCreate); err != nil {
		return err
	}
	key, once, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if once {
		return s.createOnce(w, r, c, key, body)
	}
	e, err := sb.NewEndpoint(c, body, sb.NewEndpointParams{PublicURL: s.baseURL(r)})
	if err != nil {
		return err
	}
	if err := sb.CreateEndpoint(r.Context(), s.Store, e); err != nil {
		return err
	}
	return writeEndpointOf(w, e)
}

func (s *Server) getEndpoint(w http.ResponseWriter, r *http.Request, c sb.Caller) error {
	if err := c.Authorize(sb.OpRead); err != nil {
		return err
	}
	args, err := queryArgs(r)
	if err != nil {
		return err
	}
	v, err := parseView(args)
	if err != nil {
		return err
	}
	sid, err := pathSID(r)
	if err != nil {
		return err
	}
	var e *sb.Endpoint
	read := func() (endpointAnswer, error) {
		var ans endpointAnswer
		var err error
		if e, ans.revision, err = s.Store.EndpointAt(r.Context(), c.PartnerSID, sid); err != nil {
			return ans, err
		}
		if ans.data, err = marshal(e); err != nil {
			return ans, err
		}
		ans.etag = etagOf(ans.data)
		return ans, nil
	}
	var ans endpointAnswer
	if v.plain() && s.answers != nil {
		ans, err = s.answers.get(r.Context(), c.PartnerSID, sid, read)
	} else {
		ans, err = read()
	}
	if err != nil {
		return err
	}
	w.Header().Set(revisionHeader, strconv.FormatInt(ans.revision, 10))
	w.Header().Set("ETag", ans.etag)
	if notModified(r, ans.etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	data := ans.data
	if !v.plain() {
		out, err := v.render(e, c)
		if err != nil {
			return err
		}
		if data, err = marshal(out); err != nil {
			return err
		}
	}
	writeJSONBytes(w, http.StatusOK, data)
	return nil
}

func (s *Server) patchEndpoint(w http.ResponseWriter, r *http.Request, c sb.Caller) error {
	return s.updateEndpoint(w, r, c, false)
}

func (s *Server) putEndpoint(w http.ResponseWriter, r *http.Request, c sb.Caller) error {
	return s.updateEndpoint(w, r, c, true)
}

func (s *Server) updateEndpoint(w http.ResponseWriter, r *http.Request, c sb.Caller, put bool) error {
	if err := c.Authorize(sb.OpUpdate); err != nil {
		return err
	}
	mode := sb.Put
	if !put {
		args, err := queryArgs(r)
		if err != nil {
			return err
		}
		if mode, err = sb.ParseUpdateMode(args.Get("nested_objects")); err != nil {
			return err
		}
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	sid, err := pathSID(r)
	if err != nil {
		return err
	}
	precondition := ifMatch(r)
	e, err := s.Store.UpdateEndpoint(r.Context(), c.PartnerSID, sid, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
		if precondition != nil {
			if err := precondition(cur); err != nil {
				return nil, err
			}
		}
		return cur.Update(c, body, mode)
	})
	if err != nil {
		return err
	}
	return writeEndpointOf(w, e)
}

func (s *Server) deleteEndpoint(w http.ResponseWriter, r *http.Request, c sb.Caller) error {
	if err := c.Authorize(sb.OpDelete); err != nil {
		return err
	}
	sid, err := pathSID(r)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteEndpointIf(r.Context(), c.PartnerSID, sid, ifMatch(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// writeEndpointOf answers e with its ETag.
func writeEndpointOf(w http.ResponseWriter, e *sb.Endpoint) error {
	data, err := marshal(e)
	if err != nil {
		return err
	}
	writeEndpoint(w, http.StatusOK, data)
	return nil
}

// pathSID returns the endpoint SID of the path; one that is not a UUID
// cannot exist, so it is answered like an unknown SID (§11.9).
func pathSID(r *http.Request) (string, error) {
	sid := r.PathValue("endpoint_sid")
	if !sb.IsSID(sid) {
		return "", sb.NotFound(sid)
	}
	return sid, nil
}
