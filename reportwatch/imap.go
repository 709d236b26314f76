package reportwatch

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"
	"github.com/emersion/go-sasl"

	"envoi"
	"envoi/dsn"
)

// TokenSource gives the access token of an OAuth 2.0 mailbox (the oauth
// package's Service is one); force asks a fresh one.
type TokenSource interface {
	AccessToken(ctx context.Context, key envoi.TokenKey, force bool) (string, error)
}

// CursorStore keeps where the watch of a mailbox's folder stopped.
type CursorStore interface {
	ReportCursor(ctx context.Context, mailbox envoi.TokenKey, folder string) (uidValidity, lastUID uint32, err error)
	SetReportCursor(ctx context.Context, mailbox envoi.TokenKey, folder string, uidValidity, lastUID uint32) error
}

// IMAP reads a mailbox over IMAP, read-only: the folder is opened with
// EXAMINE, messages are read with UID FETCH of BODY.PEEK (never setting
// \Seen); no STORE, COPY, MOVE or EXPUNGE is ever sent. It logs in as the
// sending identity: SASL XOAUTH2 (or OAUTHBEARER) with the flow's access
// token, or the operator's SMTP password on a basic flow. The server is
// the flow's IMAP setting.
type IMAP struct {
	Tokens  TokenSource
	Cursors CursorStore
	// TLS is the base TLS configuration (RootCAs of a private CA); the
	// server name is set per connection.
	TLS *tls.Config
	// Folders read (default INBOX).
	Folders []string
	// Timeout bounds each IMAP command and the connection (default 30s).
	Timeout time.Duration
	// Batch bounds the messages looked at per folder and round (default
	// 500); the rest wait for the next round.
	Batch int
	// FirstLook is how far back a folder is read the first time (and after
	// its UIDVALIDITY changed): default 7 days.
	FirstLook time.Duration
	Now       func() time.Time
}

// Reports implements Source.
func (s *IMAP) Reports(ctx context.Context, box Mailbox, found func(raw []byte) error) error {
	c, err := s.connect(ctx, box)
	if err != nil {
		return err
	}
	defer func() { _ = c.Logout() }()
	stop := context.AfterFunc(ctx, func() { _ = c.Terminate() })
	defer stop()
	folders := s.Folders
	if len(folders) == 0 {
		folders = []string{"INBOX"}
	}
	for _, f := range folders {
		if err := s.folder(ctx, c, box, f, found); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("imap %s: folder %s: %w", box.Flow.IMAP.Host, f, err)
		}
	}
	return nil
}

// connect dials the flow's IMAP server and logs in as the identity.
func (s *IMAP) connect(ctx context.Context, box Mailbox) (*client.Client, error) {
	srv := box.Flow.IMAP
	addr := net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port))
	timeout := s.timeout()
	d := &net.Dialer{Timeout: timeout}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TLS != nil {
		cfg = s.TLS.Clone()
	}
	cfg.ServerName = srv.Host
	var c *client.Client
	var err error
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < timeout {
		d.Timeout = time.Until(deadline)
	}
	switch srv.Security {
	case envoi.SecurityTLS:
		c, err = client.DialWithDialerTLS(d, addr, cfg)
	default:
		c, err = client.DialWithDialer(d, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("imap %s: %w", addr, err)
	}
	c.Timeout = timeout
	fail := func(err error) (*client.Client, error) {
		_ = c.Terminate()
		return nil, fmt.Errorf("imap %s: %w", addr, err)
	}
	if srv.Security == envoi.SecuritySTARTTLS {
		if err := c.StartTLS(cfg); err != nil {
			return fail(err)
		}
	}
	if srv.Security == envoi.SecurityNone && !loopback(srv.Host) {
		return fail(errors.New("credentials are not sent in clear to another machine: set imap.security to tls or starttls"))
	}
	if err := s.login(ctx, c, box); err != nil {
		return fail(err)
	}
	return c, nil
}

func (s *IMAP) login(ctx context.Context, c *client.Client, box Mailbox) error {
	id := box.Identity
	if box.Flow.Kind == envoi.KindSMTPBasic {
		if id.Password == "" {
			return errors.New("the operator has no stored password to read the mailbox with")
		}
		if ok, _ := c.SupportAuth(sasl.Plain); ok {
			return c.Authenticate(sasl.NewPlainClient("", id.Username, id.Password))
		}
		return c.Login(id.Username, id.Password)
	}
	if s.Tokens == nil {
		return errors.New("no token source for OAuth 2.0 mailboxes")
	}
	xoauth2, _ := c.SupportAuth("XOAUTH2")
	for force := false; ; force = true {
		token, err := s.Tokens.AccessToken(ctx, id.Key, force)
		if err != nil {
			return err
		}
		var auth sasl.Client = &xoauth2Client{user: id.Username, token: token}
		if !xoauth2 {
			auth = sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: id.Username, Token: token})
		}
		err = c.Authenticate(auth)
		if err == nil || force {
			return err
		}
		// A refused token is refreshed once, as for SMTP.
	}
}

// folder reads one folder from its cursor on.
func (s *IMAP) folder(ctx context.Context, c *client.Client, box Mailbox, name string, found func([]byte) error) error {
	status, err := c.Select(name, true) // EXAMINE: read-only
	if err != nil {
		return err
	}
	validity, last, err := s.Cursors.ReportCursor(ctx, box.Key, name)
	if err != nil {
		return err
	}
	var uids []uint32
	if validity != status.UidValidity || last == 0 {
		// First look (or the folder's UIDs were renumbered): what came in
		// lately.
		crit := imap.NewSearchCriteria()
		crit.Since = s.now().Add(-s.firstLook())
		uids, err = c.UidSearch(crit)
		last = 0
	} else {
		crit := imap.NewSearchCriteria()
		crit.Uid = new(imap.SeqSet)
		crit.Uid.AddRange(last+1, 0)
		uids, err = c.UidSearch(crit)
	}
	if err != nil {
		return err
	}
	uids = slices.DeleteFunc(uids, func(u uint32) bool { return u <= last })
	slices.Sort(uids)
	if len(uids) > s.batch() {
		uids = uids[:s.batch()]
	}
	if len(uids) == 0 {
		if validity != status.UidValidity {
			// Nothing lately: go on from the folder's next UID (when the
			// server names it).
			if status.UidNext > 1 {
				last = max(last, status.UidNext-1)
			}
			return s.Cursors.SetReportCursor(ctx, box.Key, name, status.UidValidity, last)
		}
		return nil
	}

	// The header first: only a message that may be a report is read.
	candidates, err := s.candidates(c, uids)
	if err != nil {
		return err
	}
	for _, uid := range uids {
		if candidates[uid] {
			raw, err := s.fetch(c, uid)
			if err != nil {
				return err
			}
			if raw != nil {
				if err := found(raw); err != nil {
					return err
				}
			}
		}
		if err := s.Cursors.SetReportCursor(ctx, box.Key, name, status.UidValidity, uid); err != nil {
			return err
		}
	}
	return nil
}

// candidates fetches the header fields dsn.Candidate reads of uids.
func (s *IMAP) candidates(c *client.Client, uids []uint32) (map[uint32]bool, error) {
	set := new(imap.SeqSet)
	set.AddNum(uids...)
	section := &imap.BodySectionName{
		BodyPartName: imap.BodyPartName{Specifier: imap.HeaderSpecifier, Fields: dsn.CandidateFields},
		Peek:         true,
	}
	ch := make(chan *imap.Message, 16)
	done := make(chan error, 1)
	go func() { done <- c.UidFetch(set, []imap.FetchItem{imap.FetchUid, section.FetchItem()}, ch) }()
	out := map[uint32]bool{}
	for m := range ch {
		h := firstBody(m)
		if h == nil {
			continue
		}
		msg, err := mail.ReadMessage(io.MultiReader(io.LimitReader(h, 64<<10), strings.NewReader("\r\n")))
		if err != nil {
			continue
		}
		out[m.Uid] = dsn.Candidate(msg.Header)
	}
	return out, <-done
}

// fetch reads the first dsn.MaxSize bytes of message uid, nil if the
// server returns none.
func (s *IMAP) fetch(c *client.Client, uid uint32) ([]byte, error) {
	set := new(imap.SeqSet)
	set.AddNum(uid)
	section := &imap.BodySectionName{Peek: true, Partial: []int{0, dsn.MaxSize}}
	ch := make(chan *imap.Message, 1)
	done := make(chan error, 1)
	go func() { done <- c.UidFetch(set, []imap.FetchItem{imap.FetchUid, section.FetchItem()}, ch) }()
	var raw []byte
	for m := range ch {
		if b := firstBody(m); b != nil && raw == nil {
			raw, _ = io.ReadAll(io.LimitReader(b, dsn.MaxSize))
		}
	}
	return raw, <-done
}

// firstBody returns the one body section of a fetched message.
func firstBody(m *imap.Message) imap.Literal {
	for _, b := range m.Body {
		if b != nil {
			return b
		}
	}
	return nil
}

func (s *IMAP) timeout() time.Duration {
	if s.Timeout <= 0 {
		return 30 * time.Second
	}
	return s.Timeout
}

func (s *IMAP) batch() int {
	if s.Batch <= 0 {
		return 500
	}
	return s.Batch
}

func (s *IMAP) firstLook() time.Duration {
	if s.FirstLook <= 0 {
		return 7 * 24 * time.Hour
	}
	return s.FirstLook
}

func (s *IMAP) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// xoauth2Client is SASL XOAUTH2 (Google's and Microsoft's mechanism).
type xoauth2Client struct{ user, token string }

func (x *xoauth2Client) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

// Next answers the server's error challenge with an empty response, so
// that it ends the exchange with its tagged NO.
func (x *xoauth2Client) Next([]byte) ([]byte, error) { return []byte{}, nil }

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
