package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	sb "switchboard"
	"switchboard/filter"
)

// List limits (§6).
const (
	defaultLimit = 10
	maxLimit     = 1000
)

// endpointFields are the names include_fields and exclude_fields accept:
// every top-level field of the domain's table, partner (with_related) too.
var endpointFields = func() []string {
	var names []string
	for _, f := range sb.Fields() {
		names = append(names, f.Name)
	}
	return names
}()

// listEnvelope is the list answer, keys in alphabetical order.
type listEnvelope struct {
	Count      int               `json:"count"`
	HasMore    bool              `json:"has_more"`
	Items      []any             `json:"items"`
	Limit      int               `json:"limit"`
	Offset     int               `json:"offset"`
	Pagination map[string]string `json:"pagination"`
	Total      int               `json:"total"`
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request, c sb.Caller) error {
	if err := c.Authorize(sb.OpRead); err != nil {
		return err
	}
	args, err := queryArgs(r)
	if err != nil {
		return err
	}
	q, err := parseListQuery(args)
	if err != nil {
		return err
	}
	v, err := parseView(args)
	if err != nil {
		return err
	}
	page, err := s.Store.ListEndpoints(r.Context(), c.PartnerSID, q)
	if err != nil {
		return err
	}
	env := listEnvelope{Count: len(page.Items), HasMore: page.HasMore, Items: make([]any, 0, len(page.Items)),
		Limit: q.Limit, Offset: q.Offset, Pagination: map[string]string{}, Total: page.Total}
	for _, e := range page.Items {
		item, err := v.render(e, c)
		if err != nil {
			return err
		}
		env.Items = append(env.Items, item)
	}
	s.paginate(r, args, q, page, env.Pagination)
	writeJSON(w, http.StatusOK, env)
	return nil
}

// paginate fills the next and previous links (§6, §11.5): they keep every
// other argument of the request.
func (s *Server) paginate(r *http.Request, args url.Values, q sb.ListQuery, page *sb.EndpointPage, links map[string]string) {
	link := func(set map[string]string) string {
		a := url.Values{}
		for k, v := range args {
			a[k] = slices.Clone(v)
		}
		for _, k := range []string{"offset", "after", "before"} {
			a.Del(k)
		}
		a.Set("limit", strconv.Itoa(q.Limit))
		for k, v := range set {
			a.Set(k, v)
		}
		return s.linkURL(r, a)
	}
	n := len(page.Items)
	switch {
	case q.After != "" || q.Before != "":
		forward := q.After != ""
		first, last := q.After, q.Before // with no items, the cursor bounds the page
		if n > 0 {
			first, last = page.Items[0].EndpointSID, page.Items[n-1].EndpointSID
		}
		if (forward && page.HasMore) || (!forward && last != "") {
			links["next"] = link(map[string]string{"after": last})
		}
		if (!forward && page.HasMore) || (forward && first != "") {
			links["previous"] = link(map[string]string{"before": first})
		}
	default:
		if page.HasMore {
			links["next"] = link(map[string]string{"offset": strconv.Itoa(q.Offset + q.Limit)})
		}
		if q.Offset > 0 {
			links["previous"] = link(map[string]string{"offset": strconv.Itoa(max(0, q.Offset-q.Limit))})
		}
	}
}

func parseListQuery(args url.Values) (sb.ListQuery, error) {
	q := sb.ListQuery{Limit: defaultLimit}
	if v := args.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return q, sb.BadRequest("limit", "limit must be a whole number from 0 to 1000")
		}
		q.Limit = min(n, maxLimit)
		if n == 0 {
			q.Limit = defaultLimit
		}
	}
	if v := args.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return q, sb.BadRequest("offset", "offset must be a whole number, 0 or more")
		}
		q.Offset = n
	}
	q.After, q.Before = args.Get("after"), args.Get("before")
	switch {
	case q.After != "" && q.Before != "":
		return q, sb.BadRequest("after", "after and before cannot be combined")
	case (q.After != "" || q.Before != "") && args.Has("offset"):
		return q, sb.BadRequest("offset", "offset cannot be combined with after or before")
	}
	for _, c := range []string{q.After, q.Before} {
		if c != "" && !sb.IsSID(c) {
			return q, sb.BadRequest(cursorName(q), cursorName(q)+" must be an endpoint_sid")
		}
	}
	if err := parseOrder(args.Get("order"), &q); err != nil {
		return q, err
	}
	if q.Shuffle && (q.After != "" || q.Before != "") {
		return q, sb.BadRequest("order", "order=shuffle cannot be combined with after or before")
	}
	if v := args.Get("filter"); v != "" {
		f, err := filter.Parse(v)
		if err != nil {
			return q, sb.BadRequest("filter", err.Error())
		}
		q.Filter = f
	}
	return q, nil
}

func cursorName(q sb.ListQuery) string {
	if q.After != "" {
		return "after"
	}
	return "before"
}

// parseOrder reads `field`, `field asc|desc`, several separated by commas,
// or `shuffle`.
func parseOrder(text string, q *sb.ListQuery) error {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	if strings.EqualFold(strings.TrimSpace(text), "shuffle") {
		q.Shuffle = true
		return nil
	}
	for _, term := range strings.Split(text, ",") {
		words := strings.Fields(term)
		if len(words) == 0 || len(words) > 2 {
			return sb.BadRequest("order", "order must be a list of `field`, `field asc` or `field desc`, or shuffle")
		}
		key := sb.OrderKey{Field: words[0]}
		if len(words) == 2 {
			switch strings.ToLower(words[1]) {
			case "asc":
			case "desc":
				key.Desc = true
			default:
				return sb.BadRequest("order", "order direction must be asc or desc")
			}
		}
		if !sb.Orderable(key.Field) {
			return sb.BadRequest("order", "cannot order by "+strconv.Quote(key.Field))
		}
		q.Order = append(q.Order, key)
	}
	return nil
}

// view is how each endpoint is written: field selection and with_related.
type view struct {
	include, exclude []string
	related          bool
}

func parseView(args url.Values) (view, error) {
	var v view
	var err error
	if v.include, err = fieldList(args, "include_fields", "includeFields"); err != nil {
		return v, err
	}
	if v.exclude, err = fieldList(args, "exclude_fields", "excludeFields"); err != nil {
		return v, err
	}
	switch strings.ToLower(args.Get("with_related")) {
	case "", "false":
	case "true":
		v.related = true
	default:
		return v, sb.BadRequest("with_related", "with_related must be true or false")
	}
	return v, nil
}

func fieldList(args url.Values, name, camel string) ([]string, error) {
	text := args.Get(name)
	if text == "" {
		name, text = camel, args.Get(camel)
	}
	if text == "" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(text, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(endpointFields, f) {
			return nil, sb.BadRequest(name, "unknown field "+strconv.Quote(f))
		}
		out = append(out, f)
	}
	return out, nil
}

type partnerView struct {
	Name       string `json:"name"`
	PartnerSID string `json:"partner_sid"`
}

// render returns the endpoint as written under this view: the struct itself
// in the common case, else a map (encoding/json sorts map keys, which keeps
// the alphabetical order).
func (v view) render(e *sb.Endpoint, c sb.Caller) (any, error) {
	if v.include == nil && v.exclude == nil && !v.related {
		return e, nil
	}
	data, err := marshal(e)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	if v.related {
		p, _ := marshal(partnerView{Name: c.PartnerName, PartnerSID: c.PartnerSID})
		fields["partner"] = p
	}
	for k := range fields {
		if (v.include != nil && !slices.Contains(v.include, k)) || slices.Contains(v.exclude, k) {
			delete(fields, k)
		}
	}
	return fields, nil
}
