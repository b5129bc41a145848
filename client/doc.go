// Package client is a Go client for the CarrierX Core API v2 Endpoints
// resource (/core/v2/endpoints), as served by CarrierX itself and by
// Switchboard. It uses the standard library only, so importing it pulls in
// no database driver and nothing else of the server.
//
// A Client talks to https://api.carrierx.com unless given another base
// URL; point it at a Switchboard server by changing only that and the
// credentials:
//
//	c := client.New(
//		client.WithBaseURL("http://127.0.0.1:8080"),
//		client.WithToken(os.Getenv("CARRIERX_TOKEN")), // or client.WithBasicAuth(login, password)
//	)
//	e, err := c.Create(ctx, client.EndpointParams{Type: client.TypeConference, Name: "standup"})
//
// Every call takes a context.Context. The calls are Create (POST), Get,
// List (an iterator over every page) and ListPage (one page), Update
// (PATCH: only the fields given change; ReplaceNestedObjects makes nested
// objects be replaced rather than merged), Replace (PUT: the whole object)
// and Delete.
//
// # Errors
//
// An answer that is not a success is an *Error holding the status, the
// CarrierX message and the field errors of the body. It matches one of the
// sentinel errors with errors.Is: ErrNotFound (404), ErrValidation (422),
// ErrConflict (409), ErrForbidden (403), ErrUnauthorized (401),
// ErrBadRequest (400), ErrRateLimited (429):
//
//	_, err := c.Get(ctx, sid)
//	if errors.Is(err, client.ErrNotFound) { ... }
//	var apiErr *client.Error
//	if errors.As(err, &apiErr) {
//		for _, fe := range apiErr.Errors { fmt.Println(fe.Field, fe.Message) }
//	}
//
// # Rate limits
//
// A request answered 429 did nothing, so it is sent again, whatever its
// method, after the time its Retry-After header says: up to 3 times, and
// only when that time is at most 30 seconds and within the context's
// deadline (WithRetries changes both bounds). Otherwise the 429 is returned
// as an *Error whose RetryAfter says how long to wait.
//
// # Testing
//
// Package switchboard/switchboardtest runs a real Switchboard server inside
// a Go test (on an in-memory database) for a Client to talk to; the
// examples here run against one.
//
// # Still to come
//
// The change feed of the endpoints is not served yet; when it is, this
// package will get a Changes call that follows it.
package client
