package switchboardtest_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/switchboard-sip/switchboard/client"
	"github.com/switchboard-sip/switchboard/switchboardtest"
)

// A partner whose token may only read: it lists, but cannot create. (In a
// test, switchboardtest.Start(t) starts the server and closes it at the
// end.)
func ExampleServer_CreatePartner() {
	srv, err := switchboardtest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()

	reader, err := srv.CreatePartner(ctx, switchboardtest.PartnerSpec{Name: "auditor", Scopes: []string{"endpoints.read"}})
	if err != nil {
		log.Fatal(err)
	}
	c := client.New(client.WithBaseURL(srv.URL), client.WithToken(reader.Token))

	page, err := c.ListPage(ctx, client.ListOptions{})
	fmt.Println(page.Total, err)
	_, err = c.Create(ctx, client.EndpointParams{Type: client.TypeConference})
	fmt.Println(errors.Is(err, client.ErrForbidden))
	// Output:
	// 0 <nil>
	// true
}
