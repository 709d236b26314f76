package compose_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestComposeStack composes every combination of what ends a mail (the
// seed's §4.1): operator footer or not, company footer or not, the
// operator's signature, the company's or none, a company logo or not, and
// a message without a company. Each one's text and HTML parts are
// compared with testdata/stack/<name>.txt (-update writes them). Whatever
// is present comes in this order: the flow's body, the operator's footer,
// the company's footer, one signature (the operator's first), the logo.
func TestComposeStack(t *testing.T) {
	const (
		opSig  = `<p><b>Jérôme Dupré</b><br>Responsable logistique</p>`
		coSig  = `<p><i>Forterro SAS</i> — <a href="https://forterro.test">forterro.test</a></p>`
		opFoot = "Service logistique\nLigne directe 01 02 03 04 05"
		coFoot = "Forterro SAS - 12 rue de la Paix, 75002 Paris"
	)
	type combo struct {
		opFooter, coFooter bool
		sig                string
		logo, company      bool
	}
	var combos []combo
	for _, of := range []bool{false, true} {
		for _, cf := range []bool{false, true} {
			for _, sig := range []string{"none", "operator", "company"} {
				for _, logo := range []bool{false, true} {
					combos = append(combos, combo{of, cf, sig, logo, true})
				}
			}
		}
	}
	for _, of := range []bool{false, true} {
		for _, sig := range []string{"none", "operator"} {
			combos = append(combos, combo{of, false, sig, false, false})
		}
	}
	yes := func(b bool, s string) string {
		if b {
			return s
		}
		return "no" + s
	}
	for _, c := range combos {
		name := fmt.Sprintf("%s_%s_sig-%s_%s", yes(c.opFooter, "opfooter"), yes(c.coFooter, "cofooter"), c.sig, yes(c.logo, "logo"))
		if !c.company {
			name = fmt.Sprintf("nocompany_%s_sig-%s", yes(c.opFooter, "opfooter"), c.sig)
		}
		t.Run(name, func(t *testing.T) {
			s, m := newStore(t), newMessage()
			op, co := s.operators["jdupont"], s.companies["FORTERRO"]
			op.FooterText, co.FooterText, op.SignatureHTML, co.SignatureHTML = "", "", "", coSig
			if c.opFooter {
				op.FooterText = opFoot
			}
			if c.coFooter {
				co.FooterText = coFoot
			}
			switch c.sig {
			case "operator":
				op.SignatureHTML = opSig
			case "none":
				co.SignatureHTML = ""
			}
			if !c.logo {
				co.Logo, co.LogoType = nil, ""
			}
			if !c.company {
				m.Request.Company = ""
			}
			_, raw := compose1(t, s, m)
			p := parse(t, raw)
			plain, htm := string(p.only(t, "text/plain").body), string(p.only(t, "text/html").body)
			got := []byte("--- text/plain ---\n" + strings.ReplaceAll(plain, "\r\n", "\n") +
				"--- text/html ---\n" + strings.ReplaceAll(htm, "\r\n", "\n"))
			path := filepath.Join("testdata", "stack", name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./compose -run TestComposeStack -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file; got:\n%s", path, got)
			}

			// The order, checked apart from the golden files.
			var order []string
			for _, x := range []struct {
				on   bool
				mark string
			}{
				{true, `class="envoi-body"`},
				{c.opFooter, `class="envoi-operator-footer"`},
				{c.company && c.coFooter, `class="envoi-company-footer"`},
				{c.sig != "none" && (c.company || c.sig == "operator"), `class="envoi-signature"`},
				{c.company && c.logo, `class="envoi-logo"`},
			} {
				if x.on != strings.Contains(htm, x.mark) {
					t.Errorf("%s present %v, want %v", x.mark, !x.on, x.on)
				}
				if x.on {
					order = append(order, x.mark)
				}
			}
			last := -1
			for _, mark := range order {
				i := strings.Index(htm, mark)
				if i < last {
					t.Errorf("%s comes too early: %v", mark, order)
				}
				last = i
			}
			if strings.Count(htm, `class="envoi-signature"`) > 1 {
				t.Errorf("more than one signature")
			}
			wantSig := map[string]string{"operator": "Jérôme Dupré", "company": "forterro.test"}[c.sig]
			if wantSig != "" && (c.company || c.sig == "operator") && !strings.Contains(plain, wantSig) {
				t.Errorf("the text part lacks the %s signature", c.sig)
			}
			if c.sig == "operator" && strings.Contains(htm, "<i>Forterro SAS</i>") {
				t.Errorf("the company's signature is there beside the operator's")
			}
			if c.logo && c.company && p.structure != withLogo {
				t.Errorf("structure %s, want the logo inline: %s", p.structure, withLogo)
			}
		})
	}
}
