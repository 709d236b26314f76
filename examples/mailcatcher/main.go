// Command mailcatcher is a local SMTP server for trying envoi without a
// mail provider: it accepts every message on 127.0.0.1:2525 (no TLS, no
// AUTH), prints one line per message and keeps each one as a .eml file.
// It delivers nothing. The README's first send points envoi at it.
//
//	go run ./examples/mailcatcher [-listen 127.0.0.1:2525] [-dir ./mailcatcher-inbox]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:2525", "address to listen on (keep it on loopback)")
	dir := flag.String("dir", "mailcatcher-inbox", "directory the received messages are written to")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		log.Fatal(err)
	}
	s := smtp.NewServer(&backend{dir: *dir})
	s.Addr = *listen
	s.Domain = "mailcatcher.localhost"
	s.MaxMessageBytes = 50 << 20
	s.ReadTimeout, s.WriteTimeout = time.Minute, time.Minute
	fmt.Printf("mailcatcher: listening on %s, keeping messages in %s/ (Ctrl-C to stop)\n", *listen, *dir)
	log.Fatal(s.ListenAndServe())
}

type backend struct {
	dir string
	n   atomic.Int64
}

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{b: b}, nil }

type session struct {
	b    *backend
	from string
	to   []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	n := s.b.n.Add(1)
	name := filepath.Join(s.b.dir, fmt.Sprintf("%s-%03d.eml", time.Now().Format("20060102-150405"), n))
	if err := os.WriteFile(name, data, 0o600); err != nil {
		return err
	}
	subject := "(no subject)"
	if m, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		if sub, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err == nil && sub != "" {
			subject = sub
		}
	}
	fmt.Printf("%s  from %s to %s  %q  %d bytes -> %s\n", time.Now().Format(time.TimeOnly), s.from, strings.Join(s.to, ", "), subject, len(data), name)
	return nil
}
