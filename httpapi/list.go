package httpapi

import (
	"bufio"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	sb "github.com/switchboard-sip/switchboard"
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
	// A plain list answers the endpoints whose GET answers are kept from
	// the cache (answers.go), and keeps those it reads.
	var held map[string][]byte
	cached := v.plain() && s.answers != nil
	if cached {
		q.Held, held = s.answers.forList(c.PartnerSID)
	}
	var revision int64
	err = s.Store.ListEndpoints(r.Context(), c.PartnerSID, q, func(page sb.PageInfo, items iter.Seq2[*sb.Endpoint, error]) error {
		revision = page.Revision
		w.Header().Set(revisionHeader, strconv.FormatInt(page.Revision, 10))
		return s.writeList(w, r, args, q, v, c, page, items, held)
	})
	if _, cut := err.(*answerCut); cut {
		panic(http.ErrAbortHandler) // recorded and logged by cutAnswer
	}
	if err == nil && cached {
		// The answer is sent: a failure here is the next request's to meet.
		s.answers.afterList(r.Context(), c.PartnerSID, revision)
	}
	return err
}

// maxListKept is the largest answer a list keeps in the answer cache: a
// page of up to 1,000 large endpoints would otherwise displace the cache's
// other answers (and hold the cache's size in memory, where the list
// itself holds one item at a time); GET keeps any.
const maxListKept = 16 << 10

// listBufferBytes is how much of a list answer is gathered before it is
// sent on.
const listBufferBytes = 32 << 10

// writeList writes the list answer while its items are read from the
// database, so that only one item at a time is held: the envelope's keys in
// alphabetical order, byte for byte what encoding the whole envelope gives
// (count and has_more, which precede the items, come from the page's
// figures; the pagination links, after them, from the first and last item
// seen). An error before any byte was sent on is answered as usual; after
// that, the answer is cut off (cutAnswer).
// held are the answers of the items the store yielded as SIDs only
// (ListQuery.Held).
func (s *Server) writeList(w http.ResponseWriter, r *http.Request, args url.Values, q sb.ListQuery, v view, c sb.Caller,
	page sb.PageInfo, items iter.Seq2[*sb.Endpoint, error], held map[string][]byte) error {
	sink := &answerStart{w: w}
	out := bufio.NewWriterSize(sink, listBufferBytes)
	begin := func() {
		out.WriteString(`{"count":` + strconv.Itoa(page.Count) + `,"has_more":` + strconv.FormatBool(page.HasMore) + `,"items":[`)
	}
	sent := 0
	var first, last string
	for e, err := range items {
		var data []byte
		if err == nil {
			var ok bool
			if data, ok = held[e.EndpointSID]; !ok {
				var item any
				if item, err = v.render(e, c); err == nil {
					data, err = marshal(item)
				}
				if err == nil && v.plain() && s.answers != nil && len(data) <= maxListKept {
					s.answers.keep(c.PartnerSID, e.EndpointSID, endpointAnswer{data, etagOf(data), page.Revision})
				}
			}
		}
		if err != nil {
			if !sink.started {
				return err // nothing sent yet: answered as usual
			}
			return s.cutAnswer(r, err, false, sent)
		}
		if sent == 0 {
			begin()
			first = e.EndpointSID
		} else {
			out.WriteByte(',')
		}
		if _, err := out.Write(data); err != nil {
			return s.cutAnswer(r, err, true, sent)
		}
		sent++
		last = e.EndpointSID
	}
	if sent == 0 {
		begin()
	}
	links := map[string]string{}
	s.paginate(r, args, q, page, first, last, links)
	pagination, err := marshal(links)
	if err != nil {
		return s.cutAnswer(r, err, false, sent)
	}
	out.WriteString(`],"limit":` + strconv.Itoa(q.Limit) + `,"offset":` + strconv.Itoa(q.Offset) + `,"pagination":`)
	out.Write(pagination)
	out.WriteString(`,"total":` + strconv.Itoa(page.Total) + `}`)
	if err := out.Flush(); err != nil {
		return s.cutAnswer(r, err, true, sent)
	}
	return nil
}

// answerStart sends the status and headers of a list answer with its first
// bytes, so that until then an error can still be answered as one.
type answerStart struct {
	w       http.ResponseWriter
	started bool
}

func (a *answerStart) Write(p []byte) (int, error) {
	if !a.started {
		a.started = true
		a.w.Header().Set("Content-Type", "application/json; charset=utf-8")
		a.w.WriteHeader(http.StatusOK)
	}
	return a.w.Write(p)
}

// paginate fills the next and previous links (§6, §11.5): they keep every
// other argument of the request. first and last are the SIDs of the page's
// first and last items ("" for an empty page).
func (s *Server) paginate(r *http.Request, args url.Values, q sb.ListQuery, page sb.PageInfo, first, last string, links map[string]string) {
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
	switch {
	case q.After != "" || q.Before != "":
		forward := q.After != ""
		if first == "" { // with no items, the cursor bounds the page
			first, last = q.After, q.Before
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
		f, err := sb.ParseFilter(v)
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

// plain reports whether the view writes the endpoint as it is.
func (v view) plain() bool { return v.include == nil && v.exclude == nil && !v.related }

// render returns the endpoint as written under this view: the struct itself
// in the common case, else a map (encoding/json sorts map keys, which keeps
// the alphabetical order).
func (v view) render(e *sb.Endpoint, c sb.Caller) (any, error) {
	if v.plain() {
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
