package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is the base URL of the real CarrierX API.
const DefaultBaseURL = "https://api.carrierx.com"

// Retry bounds for 429 answers (see the package documentation).
const (
	DefaultMaxRetries   = 3
	DefaultMaxRetryWait = 30 * time.Second
)

const endpointsPath = "/core/v2/endpoints"

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 1 << 20

// Client calls the Endpoints API. It is safe for concurrent use.
type Client struct {
	baseURL      string
	http         *http.Client
	auth         func(*http.Request)
	maxRetries   int
	maxRetryWait time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithBaseURL sets the scheme and host (and any path prefix) the API is
// reached at, e.g. "http://127.0.0.1:8080"; the client adds /core/v2. A
// trailing "/core/v2" is accepted too.
func WithBaseURL(u string) Option {
	return func(c *Client) {
		u = strings.TrimSuffix(u, "/")
		c.baseURL = strings.TrimSuffix(u, "/core/v2")
	}
}

// WithToken authenticates every request with an API token
// (Authorization: Bearer).
func WithToken(token string) Option {
	return func(c *Client) {
		c.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	}
}

// WithBasicAuth authenticates every request with the partner's login and
// password (HTTP Basic); such a request has all of the partner's scopes.
func WithBasicAuth(login, password string) Option {
	return func(c *Client) {
		c.auth = func(r *http.Request) { r.SetBasicAuth(login, password) }
	}
}

// WithHTTPClient sends the requests through hc (for its timeouts, proxy or
// transport) instead of http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithRetries bounds the retries of a request answered 429: at most max
// retries (0: none), each only when Retry-After asks for at most maxWait.
func WithRetries(max int, maxWait time.Duration) Option {
	return func(c *Client) { c.maxRetries, c.maxRetryWait = max, maxWait }
}

// New returns a client of DefaultBaseURL without credentials, changed by
// the options.
func New(opts ...Option) *Client {
	c := &Client{baseURL: DefaultBaseURL, http: http.DefaultClient, auth: func(*http.Request) {},
		maxRetries: DefaultMaxRetries, maxRetryWait: DefaultMaxRetryWait}
	for _, o := range opts {
		o(c)
	}
	return c
}

// do sends one API request (body, when not nil, as JSON) and decodes a
// success answer into out (when not nil). It retries 429 answers within
// the client's bounds.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("client: encoding the %s body: %w", method, err)
		}
	}
	target := c.baseURL + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	for attempt := 0; ; attempt++ {
		err := c.send(ctx, method, target, payload, out)
		apiErr, ok := err.(*Error)
		if !ok || apiErr.StatusCode != http.StatusTooManyRequests || attempt >= c.maxRetries || apiErr.RetryAfter > c.maxRetryWait {
			return err
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < apiErr.RetryAfter {
			return err // waiting would outlast the caller
		}
		timer := time.NewTimer(apiErr.RetryAfter)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

func (c *Client) send(ctx context.Context, method, target string, payload []byte, out any) error {
	var rdr io.Reader
	if payload != nil {
		rdr = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rdr)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "switchboard-go-client")
	c.auth(req)
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, req.URL.Path, err)
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return errorFrom(res)
	}
	if out == nil || res.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, res.Body) // lets the connection be reused
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("client: %s %s: decoding the answer: %w", method, req.URL.Path, err)
	}
	return nil
}

// errorFrom reads a failure answer: a CarrierX error body when it is one,
// else just its status.
func errorFrom(res *http.Response) *Error {
	e := &Error{StatusCode: res.StatusCode, RequestID: res.Header.Get("X-Request-Id")}
	var body struct {
		Errors []struct {
			Field        *string `json:"field"`
			Message      string  `json:"message"`
			ReferenceSID *string `json:"reference_sid"`
		} `json:"errors"`
		Message string `json:"message"`
	}
	data, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	if json.Unmarshal(data, &body) == nil && body.Message != "" {
		e.Message = body.Message
		for _, fe := range body.Errors {
			e.Errors = append(e.Errors, FieldError{Field: deref(fe.Field), Message: fe.Message, ReferenceSID: deref(fe.ReferenceSID)})
		}
	} else {
		e.Message = strings.ToLower(http.StatusText(res.StatusCode))
	}
	if res.StatusCode == http.StatusTooManyRequests {
		e.RetryAfter = parseRetryAfter(res.Header.Get("Retry-After"))
	}
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date; absent or unreadable
// means one second.
func parseRetryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return time.Second
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
