package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"envoi/client"
)

// A delivery note sent for BL 12345, waiting for its outcome; sent again
// with the same idempotency key (a retry after a timeout), it is not sent
// twice.
func ExampleClient_Send() {
	ctx := context.Background()
	c := client.New(envoiURL, apiKey)
	req := &client.SendRequest{
		DocumentFlow: "BL", Operator: "jdupont", Company: "FORTERRO",
		To:      []string{"client@customer.example"},
		Context: map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "12345"},
		Entity:  &client.Entity{Type: "BL", ID: "12345"},
	}
	m, err := c.Send(ctx, req, &client.SendOptions{IdempotencyKey: "BL-12345-1", Wait: 30 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Status)
	again, err := c.Send(ctx, req, &client.SendOptions{IdempotencyKey: "BL-12345-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("replayed:", again.Replayed, "same message:", again.ID == m.ID)
	// Output:
	// sent
	// replayed: true same message: true
}

// Accept at once, then wait for the outcome by polling.
func ExampleClient_Wait() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := client.New(envoiURL, apiKey)
	m, err := c.Send(ctx, &client.SendRequest{
		DocumentFlow: "BL", Operator: "jdupont", Company: "FORTERRO",
		To: []string{"client@customer.example"}, Context: map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "12346"},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err = c.Wait(ctx, m.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Status, m.SentAt != nil)
	// Output: sent true
}

// An error carries envoi's stable code and a remedy to show the user.
func ExampleIsCode() {
	c := client.New(envoiURL, apiKey)
	_, err := c.Send(context.Background(), &client.SendRequest{
		DocumentFlow: "FACTURE_CLIENT", Operator: "jdupont", To: []string{"client@customer.example"},
	}, nil)
	fmt.Println(client.IsCode(err, "mail_setting_not_found"))
	if e, ok := err.(*client.Error); ok {
		fmt.Println(e.StatusCode, e.Remedy != "")
	}
	// Output:
	// true
	// 422 true
}

// The ERP's webhook endpoint: envoi POSTs signed events; the handler
// checks the signature on the raw body before trusting anything.
func ExampleVerifyWebhook() {
	ctx := context.Background()
	c := client.New(envoiURL, apiKey)
	events := make(chan *client.Event, 10)
	var secret string
	ready := make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ready
		body, _ := io.ReadAll(r.Body)
		ev, err := client.VerifyWebhook(secret, r.Header, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		events <- ev
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	// No secret given: envoi makes one and shows it this once.
	wh, err := c.PutWebhook(ctx, "erp-example", &client.WebhookInput{
		URL: receiver.URL, Events: []string{client.EventMessageAccepted, client.EventMessageSent},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.DeleteWebhook(ctx, "erp-example")
	secret = wh.Secret
	close(ready)

	m, err := c.Send(ctx, &client.SendRequest{
		DocumentFlow: "BL", Operator: "jdupont", Company: "FORTERRO",
		To: []string{"client@customer.example"}, Context: map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "777"},
		Entity: &client.Entity{Type: "BL", ID: "777"},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	got := map[string]*client.Event{}
	for len(got) < 2 {
		select {
		case ev := <-events:
			if ev.Data.MessageID == m.ID {
				got[ev.Type] = ev
			}
		case <-time.After(30 * time.Second):
			fmt.Println("no event")
			return
		}
	}
	for _, typ := range []string{client.EventMessageAccepted, client.EventMessageSent} {
		ev := got[typ]
		fmt.Println(ev.Type, ev.Data.Entity.Type, ev.Data.Entity.ID, ev.Data.Status)
	}
	// Output:
	// message.accepted BL 777 queued
	// message.sent BL 777 sent
}
