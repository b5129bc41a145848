package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/switchboard-sip/switchboard/client"
	"github.com/switchboard-sip/switchboard/switchboardtest"
)

// startServer runs an in-process Switchboard server for an example (a test
// would use switchboardtest.Start(t), which also closes it).
func startServer() *switchboardtest.Server {
	srv, err := switchboardtest.New()
	if err != nil {
		log.Fatal(err)
	}
	return srv
}

// Create, read, change and delete an endpoint.
func Example() {
	srv := startServer()
	defer srv.Close()
	ctx := context.Background()

	// Against CarrierX itself, leave out WithBaseURL.
	c := client.New(client.WithBaseURL(srv.URL), client.WithToken(srv.Token))

	trunk, err := c.Create(ctx, client.EndpointParams{
		Type:      client.TypeThirdParty,
		Name:      "office pbx",
		Addresses: []client.Address{{IP: "203.0.113.10", Port: 5061}},
	})
	if err != nil {
		log.Fatal(err)
	}
	a := trunk.Addresses[0]
	fmt.Println(trunk.Name, trunk.Type, a.IP, a.Port, a.Transport)

	got, err := c.Get(ctx, trunk.EndpointSID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Name, got.AuthRequired)

	if err := c.Delete(ctx, trunk.EndpointSID); err != nil {
		log.Fatal(err)
	}
	_, err = c.Get(ctx, trunk.EndpointSID)
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output:
	// office pbx third_party 203.0.113.10 5061 udp
	// office pbx true
	// true
}

// List walks every page; each next page is asked for with a keyset cursor.
func ExampleClient_List() {
	srv := startServer()
	defer srv.Close()
	ctx := context.Background()
	c := client.New(client.WithBaseURL(srv.URL), client.WithToken(srv.Token))
	for _, name := range []string{"alpha", "bravo", "charlie", "delta", "echo"} {
		if _, err := c.Create(ctx, client.EndpointParams{Type: client.TypeConference, Name: name}); err != nil {
			log.Fatal(err)
		}
	}

	for e, err := range c.List(ctx, client.ListOptions{PageSize: 2, Order: "name desc", Filter: "name ne charlie"}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Name)
	}
	// Output:
	// echo
	// delta
	// bravo
	// alpha
}

// PATCH merges nested objects unless told to replace them.
func ExampleClient_Update() {
	srv := startServer()
	defer srv.Close()
	ctx := context.Background()
	c := client.New(client.WithBaseURL(srv.URL), client.WithToken(srv.Token))
	e, err := c.Create(ctx, client.EndpointParams{Type: client.TypeThirdParty,
		Addresses: []client.Address{{IP: "192.0.2.1"}}, Attributes: map[string]string{"region": "eu"}})
	if err != nil {
		log.Fatal(err)
	}

	e, err = c.Update(ctx, e.EndpointSID, map[string]any{"name": "trunk", "attributes": map[string]any{"team": "voice"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Name, e.Attributes)

	e, err = c.Update(ctx, e.EndpointSID, map[string]any{"attributes": map[string]any{"team": "sip"}}, client.ReplaceNestedObjects())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Name, e.Attributes)
	// Output:
	// trunk map[region:eu team:voice]
	// trunk map[team:sip]
}

// PUT replaces the whole object: read it, change its Params, send them.
func ExampleClient_Replace() {
	srv := startServer()
	defer srv.Close()
	ctx := context.Background()
	c := client.New(client.WithBaseURL(srv.URL), client.WithToken(srv.Token))
	e, err := c.Create(ctx, client.EndpointParams{Type: client.TypeThirdParty,
		Addresses: []client.Address{{IP: "192.0.2.1"}, {IP: "192.0.2.2"}}})
	if err != nil {
		log.Fatal(err)
	}

	p := e.Params()
	p.Name = "single address"
	p.Addresses = p.Addresses[1:]
	e, err = c.Replace(ctx, e.EndpointSID, p)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Name, len(e.Addresses), e.Addresses[0].IP)
	// Output:
	// single address 1 192.0.2.2
}

// A 422 holds one entry per offending field.
func ExampleError() {
	srv := startServer()
	defer srv.Close()
	c := client.New(client.WithBaseURL(srv.URL), client.WithToken(srv.Token))

	_, err := c.Create(context.Background(), client.EndpointParams{
		Type:      client.TypeThirdParty,
		Addresses: []client.Address{{IP: "192.0.2.1", Port: 70000}},
	})
	var apiErr *client.Error
	if errors.As(err, &apiErr) && errors.Is(err, client.ErrValidation) {
		fmt.Println(apiErr.StatusCode, apiErr.Message)
		for _, fe := range apiErr.Errors {
			fmt.Println(fe.Field) // fe.Message says what is wrong with it
		}
	}
	// Output:
	// 422 object validation error
	// addresses[0].port
}
