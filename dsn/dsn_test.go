package dsn_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"envoi/dsn"
)

var update = flag.Bool("update", false, "rewrite the golden .json files under testdata")

// TestGolden parses each report of testdata, written after the format's
// published description (RFC 3464, RFC 8098, Microsoft's and Google's
// bounces), and compares what it says with the .json beside it.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.eml")
	if len(files) < 8 {
		t.Fatalf("%d golden reports", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := dsn.Parse(bytes.NewReader(raw))
			var got []byte
			switch {
			case errors.Is(err, dsn.ErrNotReport):
				got = []byte("\"not a report\"\n")
			case err != nil:
				t.Fatal(err)
			default:
				got, _ = json.MarshalIndent(r, "", "  ")
				got = append(got, '\n')
			}
			want := strings.TrimSuffix(f, ".eml") + ".json"
			if *update {
				if err := os.WriteFile(want, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			w, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(got, w) {
				t.Errorf("got\n%s\nwant\n%s", got, w)
			}
		})
	}
}

// TestKinds checks the essentials of the goldens without them, so that a
// golden rewritten wrong is noticed.
func TestKinds(t *testing.T) {
	for _, tt := range []struct {
		file, kind, format, recipient, status, envoiID, messageID string
	}{
		{"rfc3464_failed", dsn.KindFailed, dsn.FormatDSN, "achtas@client.test", "5.1.1", "msg_k7x2abcdefghijklmnopqrstuv", "<k7x2abcdefghijklmnopqrstuv@envoi.test>"},
		{"rfc3464_delayed", dsn.KindDelayed, dsn.FormatDSN, "compta@slow.test", "4.4.1", "", "<d3lay0000000000000000000aa@envoi.test>"},
		{"rfc8098_displayed", dsn.KindRead, dsn.FormatMDN, "achats@client.test", "", "", "<k7x2abcdefghijklmnopqrstuv@envoi.test>"},
		{"microsoft_ndr", dsn.KindFailed, dsn.FormatMicrosoft, "achtas@client.test", "5.1.10", "", "<m5soft00000000000000000000@envoi.test>"},
		{"google_dsn", dsn.KindFailed, dsn.FormatGoogle, "nobody@client.test", "5.1.1", "", "<g00gle00000000000000000000@envoi.test>"},
		{"google_delay", dsn.KindDelayed, dsn.FormatGoogle, "compta@slow.test", "4.3.0", "msg_g00gle00000000000000000001", "<g00gle00000000000000000001@envoi.test>"},
	} {
		raw, _ := os.ReadFile("testdata/" + tt.file + ".eml")
		r, err := dsn.Parse(bytes.NewReader(raw))
		if err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if r.Kind != tt.kind || r.Format != tt.format || r.Recipient != tt.recipient || r.Status != tt.status {
			t.Errorf("%s: kind %q format %q recipient %q status %q", tt.file, r.Kind, r.Format, r.Recipient, r.Status)
		}
		if tt.envoiID != "" && (len(r.EnvoiIDs) == 0 || r.EnvoiIDs[0] != tt.envoiID) {
			t.Errorf("%s: envoi ids %q", tt.file, r.EnvoiIDs)
		}
		found := false
		for _, id := range r.MessageIDs {
			found = found || id == tt.messageID
		}
		if !found {
			t.Errorf("%s: message ids %q lack %s", tt.file, r.MessageIDs, tt.messageID)
		}
	}
	for _, f := range []string{"not_report", "rfc8098_deleted", "human_reply"} {
		raw, _ := os.ReadFile("testdata/" + f + ".eml")
		if r, err := dsn.Parse(bytes.NewReader(raw)); !errors.Is(err, dsn.ErrNotReport) {
			t.Errorf("%s: %+v, %v; want ErrNotReport", f, r, err)
		}
	}
}

// TestTruncated reads a report cut in its returned original, as a partial
// fetch gives a large one: what comes before the cut is read.
func TestTruncated(t *testing.T) {
	raw, _ := os.ReadFile("testdata/rfc3464_failed.eml")
	cut := bytes.Index(raw, []byte("References:"))
	r, err := dsn.Parse(bytes.NewReader(raw[:cut]))
	if err != nil || r.Kind != dsn.KindFailed || r.Recipient != "achtas@client.test" || len(r.MessageIDs) != 1 {
		t.Fatalf("%+v, %v", r, err)
	}
	// Beyond MaxSize, the rest is not read.
	big := append(bytes.Clone(raw[:cut]), bytes.Repeat([]byte("X-Pad: "+strings.Repeat("a", 70)+"\n"), dsn.MaxSize/78+10)...)
	big = append(big, []byte("X-Envoi-Message-Id: msg_beyondthelimit\n")...)
	r, err = dsn.Parse(bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range r.EnvoiIDs {
		if id == "msg_beyondthelimit" {
			t.Error("read beyond MaxSize")
		}
	}
}

func TestCandidate(t *testing.T) {
	for _, f := range []string{"rfc3464_failed", "rfc8098_displayed", "microsoft_ndr", "google_dsn", "google_delay", "not_report"} {
		raw, _ := os.ReadFile("testdata/" + f + ".eml")
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := dsn.Candidate(m.Header), f != "not_report"; got != want {
			t.Errorf("Candidate(%s) = %v", f, got)
		}
	}
}

// FuzzParse: whatever the bytes, Parse returns without panicking, and
// what it keeps is bounded.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, p := range files {
		raw, _ := os.ReadFile(p)
		f.Add(raw)
	}
	f.Add([]byte("Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\nContent-Type: multipart/mixed; boundary=y\r\n\r\n--y\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := dsn.Parse(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(r.Diagnostic) > 1000 || len(r.Recipient) > 1000 || len(r.EnvoiIDs) > 32 || len(r.MessageIDs) > 32 {
			t.Fatalf("unbounded report: %d %d %d %d", len(r.Diagnostic), len(r.Recipient), len(r.EnvoiIDs), len(r.MessageIDs))
		}
	})
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
