package signature_test

import (
	"strings"
	"testing"

	"envoi/signature"
)

func TestSanitize(t *testing.T) {
	for _, c := range []struct {
		name, in, want string
	}{
		{"Formatting", `<p>Jérôme <b>Dupré</b><br>Responsable <i>logistique</i></p>`, `<p>Jérôme <b>Dupré</b><br>Responsable <i>logistique</i></p>`},
		{"Table", `<table cellpadding="0" border="0"><tr><td valign="top" colspan="2" style="color: #1f4e79; font-family: Arial, sans-serif">Forterro</td></tr></table>`,
			`<table cellpadding="0" border="0"><tr><td valign="top" colspan="2" style="color: #1f4e79; font-family: Arial, sans-serif">Forterro</td></tr></table>`},
		{"Font", `<font color="red" face="Arial" size="2" onclick="x()">F</font>`, `<font color="red" face="Arial" size="2">F</font>`},
		{"Links", `<a href="https://forterro.example">w</a> <a href="mailto:a@b.c">m</a> <a href="tel:+33102030405">t</a>`,
			`<a href="https://forterro.example">w</a> <a href="mailto:a@b.c">m</a> <a href="tel:+33102030405">t</a>`},
		{"Script", `<p>a<script>alert(1)</script>b</p><style>p{}</style>`, `<p>ab</p>`},
		{"EventHandler", `<p onmouseover="alert(1)">x</p><img src="cid:logo" onerror="alert(1)">`, `<p>x</p><img src="cid:logo">`},
		{"JavascriptLink", `<a href="java&#x09;script:alert(1)">x</a><a href=" javascript:alert(1)">y</a>`, `xy`},
		{"DataImage", `<img src="data:image/png;base64,iVBORw0KGgo=" alt="logo">`, `<img src="data:image/png;base64,iVBORw0KGgo=" alt="logo">`},
		{"DataSVG", `<img src="data:image/svg+xml;base64,PHN2Zz4=">`, ``},
		{"DataHTMLLink", `<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>`, `x`},
		{"HTTPImage", `<img src="http://tracker.example/p.gif">`, ``},
		{"HTTPSImage", `<img src="https://forterro.example/logo.png" width="120">`, `<img src="https://forterro.example/logo.png" width="120">`},
		{"CSSEscapeURL", `<div style="background-color: red; color: u\72l(https://x.example/a)">x</div>`, `<div style="background-color: red">x</div>`},
		{"CSSEscapeURLWholeValue", `<div style="font-family: u\72l(https://x.example/a)">x</div>`, `<div>x</div>`},
		{"CSSURL", `<span style="background: url(https://x.example/a); background-image: url(x)">x</span>`, `<span>x</span>`},
		{"PositionFixed", `<div style="position: fixed; top: 0; left: 0; width: 100%; height: 100%; z-index: 9999">overlay</div>`,
			`<div style="width: 100%; height: 100%">overlay</div>`},
		{"PositionEscaped", `<div style="p\6fsition: fixed">x</div>`, `<div>x</div>`},
		{"Expression", `<div style="width: expression(alert(1))">x</div>`, `<div>x</div>`},
		{"Forms", `<form action="https://x.example"><input name="p"><button>go</button></form>`, `go`},
		{"Iframe", `<iframe src="https://x.example"></iframe>after`, `after`},
		{"ClassAndID", `<p class="MsoNormal" id="x">x</p>`, `<p>x</p>`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := signature.Sanitize(c.in)
			if got != c.want {
				t.Errorf("Sanitize(%s)\n = %s\nwant %s", c.in, got, c.want)
			}
			if again := signature.Sanitize(got); again != got {
				t.Errorf("not idempotent: %s → %s", got, again)
			}
		})
	}
}

func TestText(t *testing.T) {
	got := signature.Text(`<p>Jérôme  <b>Dupré</b><br>Responsable &amp; co</p><table><tr><td>a</td></tr><tr><td>b</td></tr></table><script>x</script>`)
	want := "Jérôme Dupré\nResponsable & co\n\na\n\nb"
	if got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
	if strings.Contains(signature.Text("<style>p{color:red}</style>x"), "color") {
		t.Error("style content taken for text")
	}
}
