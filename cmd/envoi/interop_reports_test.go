package main_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"envoi/internal/interop"
)

// reportJSON is what GET /v1/messages/{id} says of what came back.
type reportJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Bounce *struct {
		Recipient  string `json:"recipient"`
		Status     string `json:"status"`
		Diagnostic string `json:"diagnostic"`
		At         string `json:"at"`
	} `json:"bounce"`
	ReadAt string `json:"read_at"`
}

// TestInteropReports: envoi watches the sending mailbox on Dovecot's IMAP
// server, logged in with the operator's OAuth token (XOAUTH2). A message
// smtp-sink accepted whose recipient is then rejected comes back as the
// DSN an MTA writes (RFC 3464, the original's header returned), delivered
// into the mailbox by Dovecot's LDA: envoi finds it, matches it and
// records bounced. A read receipt (RFC 8098) for another message becomes
// its read_at. The mailbox's other mail, a report about a message envoi
// did not send among it, is left as it was: no message deleted, no flag
// changed, not even \Seen on the reports.
func TestInteropReports(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ie := startInterop(t, dbURL, interopOptions{IMAP: true, Flags: []string{"--reports-every", "1s"}})
		ie.configure(ie.Confidential, map[string]any{
			"imap": map[string]any{"enabled": true, "host": ie.D.Host, "port": ie.D.IMAPPort, "security": "tls"},
		})
		ie.consent()
		box := ie.User.Email

		// The mailbox already holds mail: one read and flagged, one not.
		ie.D.Deliver(t, box, "someone@example.org", unrelatedMail("<old-1@example.org>", "Réunion de lundi"))
		ie.D.Deliver(t, box, "someone@example.org", unrelatedMail("<old-2@example.org>", "Commande 778"))
		ie.D.SetFlags(t, box, 1, `\Seen \Flagged`)

		bounced := ie.mustSend("achtas@client.example", box)
		read := ie.mustSend("achats@client.example", box)
		orig := ie.Sink.WithMessageID(t, bounced.MessageID)[0]

		// The relay rejected achtas after accepting the message: its
		// bounce, then a bounce about a message envoi never sent, then the
		// read receipt of the other message.
		ie.D.Deliver(t, box, "", mtaBounce(orig, box, "achtas@client.example"))
		ie.D.Deliver(t, box, "", mtaBounce(interop.SinkMessage{Data: "Message-ID: <not-ours@elsewhere.example>\r\nSubject: autre\r\n\r\n"},
			box, "nobody@client.example"))
		ie.D.Deliver(t, box, "achats@client.example", readReceipt(read.MessageID, box, "achats@client.example"))
		before := ie.D.Flags(t, box)
		if len(before) != 5 {
			t.Fatalf("the mailbox holds %d messages, want 5: %q", len(before), before)
		}

		var b reportJSON
		deadline := time.Now().Add(60 * time.Second)
		for {
			ie.MustDo(200, "GET", "/v1/messages/"+bounced.ID, nil, &b)
			if b.Status == "bounced" || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if b.Status != "bounced" || b.Bounce == nil || b.Bounce.Recipient != "achtas@client.example" || b.Bounce.Status != "5.1.1" ||
			!strings.Contains(b.Bounce.Diagnostic, "User unknown") || b.Bounce.At == "" {
			t.Fatalf("bounced message: %+v (bounce %+v)", b, b.Bounce)
		}
		var r reportJSON
		for {
			ie.MustDo(200, "GET", "/v1/messages/"+read.ID, nil, &r)
			if r.ReadAt != "" || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if r.ReadAt == "" || r.Status != "sent" || r.Bounce != nil {
			t.Fatalf("read message: %+v", r)
		}

		// Read-only: every message is there, with the flags it had.
		if after := ie.D.Flags(t, box); !slices.Equal(after, before) {
			t.Errorf("the mailbox changed:\nbefore %q\nafter  %q", before, after)
		}
		if !strings.Contains(before[0], `\Seen`) || !strings.Contains(before[0], `\Flagged`) {
			t.Errorf("the first message's flags: %q", before[0])
		}
		for _, l := range before[1:] {
			if strings.Contains(l, `\Seen`) {
				t.Errorf("a message was marked seen: %q", l)
			}
		}
		if log := ie.D.Log(); !strings.Contains(log, "imap-login: Info: Login: user=<"+box+">, method=XOAUTH2") {
			t.Errorf("no IMAP login by XOAUTH2 in Dovecot's log:\n%s", log)
		}
		// The CLI shows it too.
		out := ie.Run("messages", "show", bounced.ID)
		if !strings.Contains(out, "bounced:") || !strings.Contains(out, "5.1.1") {
			t.Errorf("envoi messages show:\n%s", out)
		}
	})
}

// unrelatedMail is an ordinary message.
func unrelatedMail(id, subject string) []byte {
	return []byte("From: Someone <someone@example.org>\r\nTo: jeanne.dupont@forterro.example\r\nSubject: " + subject +
		"\r\nMessage-ID: " + id + "\r\nDate: Mon, 02 Mar 2026 08:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour.\r\n")
}

// mtaBounce writes the delivery status notification an MTA (Postfix's
// bounce service) sends to sender when the relay refused rcpt after
// accepting orig: a multipart/report of a human part, the
// message/delivery-status and the original's header (text/rfc822-headers).
func mtaBounce(orig interop.SinkMessage, sender, rcpt string) []byte {
	head, _, _ := strings.Cut(strings.ReplaceAll(orig.Data, "\r\n", "\n"), "\n\n")
	var kept []string
	for _, l := range strings.Split(head, "\n") {
		// smtp-sink's own lines come first.
		if k, _, _ := strings.Cut(l, ":"); slices.Contains([]string{"X-Client-Addr", "X-Client-Proto", "X-Helo-Args", "X-Mail-Args", "X-Rcpt-Args"}, k) {
			continue
		}
		kept = append(kept, l)
	}
	now := time.Now().UTC().Format(time.RFC1123Z)
	b := "=_bounce_" + randomHex(6)
	msg := fmt.Sprintf(`Date: %[1]s
From: MAILER-DAEMON@relay.client.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: %[2]s
Auto-Submitted: auto-replied
Message-Id: <%[3]s@relay.client.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="%[3]s"

This is a MIME-encapsulated message.

--%[3]s
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<%[4]s>: host mx.client.example said: 550 5.1.1 <%[4]s>: Recipient
    address rejected: User unknown in local recipient table

--%[3]s
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.client.example
Arrival-Date: %[1]s

Final-Recipient: rfc822; %[4]s
Original-Recipient: rfc822;%[4]s
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.client.example
Diagnostic-Code: smtp; 550 5.1.1 <%[4]s>: Recipient address rejected: User
    unknown in local recipient table

--%[3]s
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

%[5]s

--%[3]s--
`, now, sender, b, rcpt, strings.Join(kept, "\n"))
	return []byte(strings.ReplaceAll(msg, "\n", "\r\n"))
}

// readReceipt is the disposition notification a mail reader sends when
// the recipient displays the message (RFC 8098).
func readReceipt(messageID, to, from string) []byte {
	b := "=_mdn_" + randomHex(6)
	msg := fmt.Sprintf(`Date: %[1]s
From: %[3]s
To: %[2]s
Subject: Read: FORTERRO : Envoi du BL : 12345
Message-ID: <mdn.%[4]s@client.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification; boundary="%[4]s"

--%[4]s
Content-Type: text/plain; charset=utf-8

The message was displayed.

--%[4]s
Content-Type: message/disposition-notification

Reporting-UA: client.example; Thunderbird
Final-Recipient: rfc822;%[3]s
Original-Message-ID: %[5]s
Disposition: manual-action/MDN-sent-manually; displayed

--%[4]s--
`, time.Now().UTC().Format(time.RFC1123Z), to, from, b, messageID)
	return []byte(strings.ReplaceAll(msg, "\n", "\r\n"))
}

// TestInteropReportsBasic: on a basic flow the watcher logs in to IMAP
// with the operator's SMTP password, and a Google-style bounce (no
// multipart/report: X-Failed-Recipients, the reply in the text, the
// original's id in References) is matched and recorded.
func TestInteropReportsBasic(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ie := startInterop(t, dbURL, interopOptions{IMAP: true, Flags: []string{"--reports-every", "1s"}})
		ie.MustDo(200, "PUT", "/v1/companies/FORTERRO", map[string]any{"name": "Forterro"}, nil)
		ie.MustDo(200, "PUT", "/v1/mail-settings/BL", map[string]any{"subject": "[SOCIETE] : Envoi du BL : [ID_BL]", "body": "Bonjour", "priority": "normal"}, nil)
		ie.MustDo(200, "PUT", "/v1/operators/jdupont", map[string]any{"name": "Basic User", "email": ie.Basic.Email, "smtp_password": ie.Basic.Password}, nil)
		ie.MustDo(200, "PUT", "/v1/auth-flows/BASIC", map[string]any{
			"kind": "smtp_basic", "name": "Dovecot", "operators": []string{"jdupont"},
			"smtp": map[string]any{"host": ie.D.Host, "port": ie.D.Port, "security": "starttls"},
			"imap": map[string]any{"enabled": true, "host": ie.D.Host, "port": ie.D.IMAPPort, "security": "tls"},
		}, nil)
		box := ie.Basic.Email
		m := ie.mustSend("nobody@client.example", box)
		bounce := "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\nTo: " + box +
			"\r\nSubject: Delivery Status Notification (Failure)\r\nX-Failed-Recipients: nobody@client.example\r\nReferences: " + m.MessageID +
			"\r\nIn-Reply-To: " + m.MessageID + "\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) +
			"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nAddress not found\r\n\r\n" +
			"The response from the remote server was:\r\n550 5.1.1 <nobody@client.example>: Recipient address rejected: User unknown\r\n"
		ie.D.Deliver(t, box, "", []byte(bounce))

		var b reportJSON
		deadline := time.Now().Add(60 * time.Second)
		for {
			ie.MustDo(200, "GET", "/v1/messages/"+m.ID, nil, &b)
			if b.Status == "bounced" || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if b.Status != "bounced" || b.Bounce == nil || b.Bounce.Recipient != "nobody@client.example" || b.Bounce.Status != "5.1.1" {
			t.Fatalf("bounced message: %+v (bounce %+v)", b, b.Bounce)
		}
		// The folder gets a new UIDVALIDITY (a restored mailbox): the
		// watcher's cursor no longer holds, it reads the folder's recent
		// mail again (what it recorded stays recorded once), and a read
		// receipt that came after is found.
		ie.D.RenumberUIDs(t, box, 4242)
		ie.D.Deliver(t, box, "nobody@client.example", readReceipt(m.MessageID, box, "nobody@client.example"))
		for {
			ie.MustDo(200, "GET", "/v1/messages/"+m.ID, nil, &b)
			if b.ReadAt != "" || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if b.ReadAt == "" || b.Status != "bounced" {
			t.Fatalf("after the UIDs were renumbered: %+v", b)
		}
		if log := ie.D.Log(); !strings.Contains(log, "imap-login: Info: Login: user=<"+box+">, method=PLAIN") {
			t.Errorf("no IMAP login by PLAIN in Dovecot's log:\n%s", log)
		}
		if flags := ie.D.Flags(t, box); len(flags) != 2 || strings.Contains(strings.Join(flags, " "), `\Seen`) {
			t.Errorf("the mailbox: %q", flags)
		}
	})
}
