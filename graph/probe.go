package graph

import (
	"context"
	"fmt"
	"net/http"

	"envoi"
)

// Probe is the mail part of a graph flow's Test action: with the
// identity's token, read its mailbox's settings (GET
// {user}/mailboxSettings): the token is one for Graph, the mailbox is
// reachable through the API as this identity. Nothing is sent. from and
// rcpt are not used (they are the SMTP probe's). A 401 refreshes the token
// once, as a send does.
func (s *Sender) Probe(ctx context.Context, id envoi.Identity, from, rcpt string) ([]envoi.TestStep, error) {
	t, err := targetOf(id)
	if err != nil {
		return nil, err
	}
	c := &call{s: s, t: t}
	name := "graph_mailbox"
	if _, err := c.do(ctx, http.MethodGet, t.user+"/mailboxSettings", "", nil, http.StatusOK); err != nil {
		return []envoi.TestStep{{Name: name, Detail: envoi.AsError(err).Message}}, err
	}
	return []envoi.TestStep{{Name: name, OK: true,
		Detail: fmt.Sprintf("Microsoft Graph (%s) accepted the token for %s%s", t.base, id.Username, viaMe(t))}}, nil
}

func viaMe(t target) string {
	if t.user == "/me" {
		return " (/me)"
	}
	return ""
}
